// Progress of a background export (templates/reports/exports/job.html): polls the job's JSON
// status every two seconds and updates the bar; once done, shows the download link. Without
// JavaScript the page refreshes itself (a <noscript> meta refresh) and shows the same.
(function () {
  "use strict";
  var box = document.getElementById("export-job");
  if (!box || box.dataset.finished === "true") { return; }
  var url = box.dataset.statusUrl;
  var bar = document.getElementById("export-progress");
  var status = document.getElementById("export-status");
  var count = document.getElementById("export-count");
  var ready = document.getElementById("export-ready");
  var error = document.getElementById("export-error");

  function show(job) {
    if (job.rows_total) { bar.max = job.rows_total; }
    bar.value = job.rows_done;
    status.textContent = job.label;
    count.textContent = job.rows_done.toLocaleString() + " / " + (job.rows_total || 0).toLocaleString();
    if (job.status === "done") {
      status.className = "badge bg-success";
      ready.classList.remove("d-none");
      return true;
    }
    if (job.status === "failed") {
      status.className = "badge bg-danger";
      error.classList.remove("d-none");
      return true;
    }
    return false;
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (job) {
        if (job && show(job)) { return; }
        window.setTimeout(poll, 2000);
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }

  window.setTimeout(poll, 1000);
}());
