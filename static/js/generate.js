// Generate page: a generation can take several seconds, so show that the request is in flight and
// block a second submit of the same prompt. The form itself works without this script.
(function () {
  "use strict";
  var form = document.getElementById("generate-form");
  if (!form) return;
  var button = form.querySelector("button[type=submit]");
  var busy = form.querySelector(".generate-busy");
  var submitting = false;

  form.addEventListener("submit", function (event) {
    if (submitting) {
      event.preventDefault();
      return;
    }
    submitting = true;
    button.disabled = true;
    button.textContent = button.getAttribute("data-busy-label") || "Working…";
    if (busy) busy.hidden = false;
  });

  // Ctrl/Cmd+Enter in the prompt submits, as in most chat and playground UIs.
  var prompt = form.querySelector("textarea");
  if (prompt) {
    prompt.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        if (typeof form.requestSubmit === "function") form.requestSubmit();
        else form.submit();
      }
    });
  }

  // Coming back to the page from the history cache must not leave the button disabled.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    submitting = false;
    button.disabled = false;
    button.textContent = "Generate";
    if (busy) busy.hidden = true;
  });
})();
