// Order type-ahead for incident intake: <input data-order-suggest="/incidents/orders/suggest" list="id">.
// The field works without this file: an order reference typed in full is looked up on saving.
(function () {
  "use strict";
  document.querySelectorAll("input[data-order-suggest]").forEach(function (input) {
    var list = document.getElementById(input.getAttribute("list"));
    var url = input.getAttribute("data-order-suggest");
    var timer = null;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      var text = input.value.trim();
      if (text.length < 2 || !list) { return; }
      timer = setTimeout(function () {
        fetch(url + "?q=" + encodeURIComponent(text), { credentials: "same-origin", headers: { "Accept": "application/json" } })
          .then(function (response) { return response.ok ? response.json() : []; })
          .then(function (items) {
            list.replaceChildren();
            items.forEach(function (item) {
              var option = document.createElement("option");
              option.value = item.ref;
              option.label = item.customer_ref ? item.ref + " — " + item.customer_ref : item.ref;
              list.appendChild(option);
            });
          })
          .catch(function () { /* type-ahead is a convenience; the field still works */ });
      }, 200);
    });
  });
})();
