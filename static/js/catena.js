// Catena's small progressive enhancements. Every page works without this file.
(function () {
  "use strict";

  // Ask before one-button actions that cannot be undone easily (data-confirm="message").
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });

  // Type-ahead: <input data-supplier-suggest="/suppliers/suggest" list="id"> or
  // <input data-order-suggest="/incidents/orders/suggest" list="id">. The field works without it.
  function typeAhead(attribute, toOption) {
    document.querySelectorAll("input[" + attribute + "]").forEach(function (input) {
      var list = document.getElementById(input.getAttribute("list"));
      var url = input.getAttribute(attribute);
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
                var shown = toOption(item);
                option.value = shown[0];
                option.label = shown[1];
                list.appendChild(option);
              });
            })
            .catch(function () { /* type-ahead is a convenience; the field still works */ });
        }, 200);
      });
    });
  }

  typeAhead("data-supplier-suggest", function (item) { return [item.code, item.code + " — " + item.legal_name]; });
  typeAhead("data-order-suggest", function (item) {
    return [item.ref, item.customer_ref ? item.ref + " — " + item.customer_ref : item.ref];
  });
})();
