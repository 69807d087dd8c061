// Batch page: draw the progress bar from its data attributes (no inline styles: the CSP forbids
// them), now and after each live refresh of the progress partial.
(function () {
  "use strict";
  function draw() {
    var bar = document.querySelector("#batch-progress .progress");
    if (!bar) return;
    var total = Number(bar.getAttribute("data-total")) || 0;
    var done = Number(bar.getAttribute("data-done")) || 0;
    var failed = Number(bar.getAttribute("data-failed")) || 0;
    var pct = function (n) { return total ? (100 * n / total) + "%" : "100%"; };
    bar.querySelector(".bar-done").style.width = total ? pct(done) : "0%";
    bar.querySelector(".bar-failed").style.width = total ? pct(failed) : "0%";
  }
  document.addEventListener("htmx:afterSettle", draw);
  draw();
})();
