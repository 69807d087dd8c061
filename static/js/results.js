// Live refresh of the results table: poll the table partial while any row is queued or running.
(function () {
  "use strict";
  var container = document.getElementById("results-table");
  if (!container) return;
  var url = container.getAttribute("data-refresh-url");
  var intervalMs = 1500;
  var timer = null;

  function isActive() {
    var table = container.querySelector("table.items");
    return table && table.getAttribute("data-active") === "true";
  }

  function refresh() {
    fetch(url, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        container.innerHTML = html;
        schedule();
      })
      .catch(function () {
        intervalMs = Math.min(intervalMs * 2, 15000);
        schedule(true);
      });
  }

  function schedule(force) {
    clearTimeout(timer);
    if (force || isActive()) timer = setTimeout(refresh, intervalMs);
  }

  schedule();
})();
