// Supplier portal (templates/questionnaires/portal/portal.html): shows a conditional question
// only while the answer it depends on is given, and asks before the final submission.
// Without this file every question is shown with its "answer only if …" note, and the server
// ignores the answers of questions that do not apply.
(function () {
  "use strict";

  var form = document.querySelector("form[data-portal-form]");
  if (!form) { return; }

  // Ask once more before "Submit" (not before "Save draft").
  form.addEventListener("submit", function (event) {
    var button = event.submitter;
    var message = button && button.getAttribute("data-confirm-submit");
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });

  var questions = Array.prototype.slice.call(form.querySelectorAll("[data-question-key]"));
  var byKey = {};
  questions.forEach(function (wrapper) { byKey[wrapper.getAttribute("data-question-key")] = wrapper; });

  function parse(text) {
    try { return JSON.parse(text || "[]"); } catch (e) { return []; }
  }

  // The values a question currently holds: read-only answers carry them as data, fields as input.
  function valuesOf(wrapper) {
    if (wrapper.hasAttribute("data-answer-values")) {
      return parse(wrapper.getAttribute("data-answer-values"));
    }
    var values = [];
    wrapper.querySelectorAll("input, select").forEach(function (input) {
      if ((input.type === "radio" || input.type === "checkbox") && !input.checked) { return; }
      if (input.type === "file" || input.name === "remove_file") { return; }
      if (input.value) { values.push(input.value); }
    });
    return values;
  }

  function update() {
    var shown = {};
    // Conditions name earlier questions, so one pass in page order decides every question.
    questions.forEach(function (wrapper) {
      var key = wrapper.getAttribute("data-question-key");
      var condition = wrapper.getAttribute("data-condition-key");
      var visible = true;
      if (condition) {
        var target = byKey[condition];
        var wanted = parse(wrapper.getAttribute("data-condition-values"));
        visible = Boolean(target) && shown[condition] === true && valuesOf(target).some(function (value) {
          return wanted.indexOf(value) !== -1;
        });
      }
      // Never hide a question the server marked with an error: the supplier must see it.
      if (wrapper.classList.contains("has-error")) { visible = true; }
      shown[key] = visible;
      wrapper.hidden = !visible;
    });
  }

  form.addEventListener("change", update);
  update();
})();
