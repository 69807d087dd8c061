// Live inference-fleet panel: fetch the panel body now, then refresh it on the interval the server
// suggests (faster while an instance is changing state). Backs off when requests fail and pauses
// while the tab is hidden.
(function () {
  "use strict";
  var panel = document.getElementById("power-panel");
  if (!panel) return;
  var body = panel.querySelector(".power-body");
  var url = panel.getAttribute("data-refresh-url");
  var failures = 0;
  var timer = null;

  function suggestedMs() {
    var status = body.querySelector(".power-status");
    var ms = status ? parseInt(status.getAttribute("data-refresh-ms"), 10) : NaN;
    return isNaN(ms) ? 5000 : ms;
  }

  function schedule() {
    clearTimeout(timer);
    var delay = failures ? Math.min(5000 * Math.pow(2, failures), 60000) : suggestedMs();
    timer = setTimeout(refresh, delay);
  }

  function refresh() {
    if (document.hidden) { schedule(); return; }
    fetch(url, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        failures = 0;
        body.innerHTML = html;
        schedule();
      })
      .catch(function () {
        failures += 1;
        if (!body.querySelector(".power-status")) {
          body.innerHTML = '<p class="error">The fleet status cannot be loaded right now; retrying.</p>';
        }
        schedule();
      });
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) refresh();
  });
  if (body.querySelector(".power-status")) schedule(); else refresh();
})();
