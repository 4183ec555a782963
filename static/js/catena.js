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

  // Supplier type-ahead: <input data-supplier-suggest="/suppliers/suggest" list="id">
  document.querySelectorAll("input[data-supplier-suggest]").forEach(function (input) {
    var list = document.getElementById(input.getAttribute("list"));
    var url = input.getAttribute("data-supplier-suggest");
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
              option.value = item.code;
              option.label = item.code + " — " + item.legal_name;
              list.appendChild(option);
            });
          })
          .catch(function () { /* type-ahead is a convenience; the field still works */ });
      }, 200);
    });
  });
})();
