// Review mode's keys: 1-9 press that label's button, S skips, U undoes. Nothing happens while a field
// has the focus or a modifier is held, so typing and the browser's own shortcuts keep working.
(function () {
  "use strict";
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    var target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    var control = document.querySelector('[data-key="' + event.key.toLowerCase() + '"]');
    if (!control || control.disabled) return;
    event.preventDefault();
    if (control.dataset.busy) return;
    control.dataset.busy = "1"; // one press, one label: a held or doubled key does not label the next item
    control.click();
  });
  document.querySelectorAll("select.autosubmit").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
})();
