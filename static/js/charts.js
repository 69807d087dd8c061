// Dashboard charts: fetch the series from the server and draw them with the vendored Chart.js.
(function () {
  "use strict";
  var panel = document.getElementById("charts-panel");
  if (!panel || typeof Chart === "undefined") return;
  var url = panel.getAttribute("data-url");
  var refreshMs = 15000;
  var charts = {};
  var colors = ["#037f0c", "#d91515", "#0972d3", "#8d6605", "#7d3ac1", "#e07941", "#00807f", "#5f6b7a"];

  function make(id, config) {
    var canvas = document.getElementById(id);
    if (!canvas) return null;
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
    return new Chart(canvas, config);
  }

  function draw(data) {
    var perMinute = {
      labels: data.minutes,
      datasets: [
        { label: "submitted", data: data.submitted, borderColor: "#0972d3", backgroundColor: "rgba(9,114,211,.15)", fill: true, tension: 0.2, pointRadius: 0 },
        { label: "completed", data: data.completed, borderColor: "#037f0c", backgroundColor: "rgba(3,127,12,.1)", fill: true, tension: 0.2, pointRadius: 0 }
      ]
    };
    var waiting = {
      labels: data.minutes,
      datasets: [{ label: "waiting", data: data.waiting, borderColor: "#8d6605", backgroundColor: "rgba(141,102,5,.15)", fill: true, stepped: true, pointRadius: 0 }]
    };
    var names = Object.keys(data.labels);
    var labels = {
      labels: names,
      datasets: [{ label: "items", data: names.map(function (n) { return data.labels[n]; }), backgroundColor: names.map(function (_, i) { return colors[i % colors.length]; }) }]
    };
    var scales = { y: { beginAtZero: true, ticks: { precision: 0 } }, x: { ticks: { maxTicksLimit: 8 } } };
    if (!charts.throughput) {
      charts.throughput = make("chart-throughput", { type: "line", data: perMinute, options: { scales: scales } });
      charts.queue = make("chart-queue", { type: "line", data: waiting, options: { scales: scales, plugins: { legend: { display: false } } } });
      charts.labels = make("chart-labels", { type: "bar", data: labels, options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } }, plugins: { legend: { display: false } } } });
    } else {
      charts.throughput.data = perMinute; charts.throughput.update();
      charts.queue.data = waiting; charts.queue.update();
      charts.labels.data = labels; charts.labels.update();
    }
    panel.querySelector(".queue-jobs").textContent = data.queue_jobs === null ? "unknown (Redis unreachable)" : String(data.queue_jobs);
    panel.querySelector(".charts-updated").textContent = "Updated " + data.generated_at.replace("T", " ").replace("Z", " UTC");
    panel.setAttribute("data-ready", "true");
  }

  function showError(message) {
    var banner = panel.querySelector(".charts-error");
    banner.textContent = message;
    banner.hidden = false;
    panel.querySelector(".charts-updated").textContent = "Not updated";
  }

  function load() {
    fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error(body.error || ("HTTP " + response.status));
          return body;
        });
      })
      .then(function (data) { panel.querySelector(".charts-error").hidden = true; draw(data); })
      .catch(function (error) { showError(error.message || "The chart data cannot be loaded."); })
      .then(function () { setTimeout(load, refreshMs); });
  }
  load();
})();
