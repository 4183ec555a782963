// Questionnaire builder: progressive enhancement of the question form. Without this file every
// field is shown and blank rows are offered by the server; with it, only the fields of the
// chosen type are shown, rows can be added, and the condition's answers follow its question.
(function () {
  "use strict";

  var form = document.querySelector("form[data-question-form]");
  if (!form) { return; }
  var typeSelect = form.querySelector("select[name='type']");

  // Show the fieldsets that apply to the chosen type; hidden ones are disabled too, so
  // that nothing irrelevant is sent (the server ignores it anyway).
  function showFieldsForType() {
    var kind = typeSelect ? typeSelect.value : "";
    form.querySelectorAll("fieldset[data-for-types]").forEach(function (fieldset) {
      var applies = fieldset.getAttribute("data-for-types").split(" ").indexOf(kind) !== -1;
      fieldset.hidden = !applies;
      fieldset.disabled = !applies;
    });
  }

  // "Add a row" under each row table: copy the last row with the next index, emptied.
  function enableAddRow(table) {
    var body = table.tBodies[0];
    var name = table.getAttribute("data-rows");
    var button = document.createElement("button");
    button.type = "button";
    button.className = "btn btn-sm btn-outline-secondary mb-2";
    button.textContent = table.getAttribute("data-add-label") || "+";
    button.addEventListener("click", function () {
      var rows = body.querySelectorAll("tr[data-row]");
      var last = rows[rows.length - 1];
      if (!last) { return; }
      var next = rows.length;
      var copy = last.cloneNode(true);
      var pattern = new RegExp("^" + name + "-\\d+-");
      copy.querySelectorAll("input, label").forEach(function (element) {
        ["name", "id", "for"].forEach(function (attribute) {
          var value = element.getAttribute(attribute);
          if (value) { element.setAttribute(attribute, value.replace(pattern, name + "-" + next + "-")); }
        });
        if (element.tagName === "INPUT") {
          if (element.type === "checkbox") { element.checked = false; } else { element.value = ""; }
          element.classList.remove("is-invalid");
        }
      });
      body.appendChild(copy);
      var first = copy.querySelector("input");
      if (first) { first.focus(); }
    });
    table.parentNode.insertAdjacentElement("afterend", button);
  }

  // Offer only the answers of the question chosen as condition.
  function filterConditionValues() {
    var keySelect = form.querySelector("select[name='condition_key']");
    var valuesSelect = form.querySelector("select[name='condition_values']");
    if (!keySelect || !valuesSelect) { return; }
    function update() {
      var key = keySelect.value;
      valuesSelect.disabled = !key;
      Array.prototype.forEach.call(valuesSelect.options, function (option) {
        var matches = option.getAttribute("data-condition-key") === key;
        option.hidden = !matches;
        if (!matches) { option.selected = false; }
      });
    }
    keySelect.addEventListener("change", update);
    update();
  }

  if (typeSelect) {
    typeSelect.addEventListener("change", showFieldsForType);
    showFieldsForType();
  }
  form.querySelectorAll("table[data-rows]").forEach(enableAddRow);
  filterConditionValues();
})();
