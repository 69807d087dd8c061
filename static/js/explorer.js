// Results explorer: page selection (header checkbox, indeterminate when partial), selection actions,
// delete confirmation, column chooser (remembered server-side), page-size auto-submit.
// Everything is delegated from `document`, so it keeps working after htmx swaps the table.
(function () {
  "use strict";
  var selected = new Set();

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("#explorer input.select-row"));
  }

  function refreshSelection() {
    var boxes = rows();
    var checked = 0;
    boxes.forEach(function (box) {
      box.checked = selected.has(box.value);
      var row = box.closest("tr");
      if (row) row.classList.toggle("selected", box.checked);
      if (box.checked) checked += 1;
    });
    // Ids no longer on the page (another page, deleted) are not part of the selection.
    var onPage = new Set(boxes.map(function (box) { return box.value; }));
    selected.forEach(function (id) { if (!onPage.has(id)) selected.delete(id); });
    var header = document.querySelector("#explorer input.select-page");
    if (header) {
      header.checked = boxes.length > 0 && checked === boxes.length;
      header.indeterminate = checked > 0 && checked < boxes.length;
    }
    var count = document.querySelector("#explorer .selection-count");
    if (count) count.textContent = checked + " selected";
    document.querySelectorAll("#explorer .needs-selection").forEach(function (button) {
      button.disabled = checked === 0;
    });
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches("#explorer input.select-row")) {
      if (target.checked) selected.add(target.value); else selected.delete(target.value);
      refreshSelection();
    } else if (target.matches("#explorer input.select-page")) {
      rows().forEach(function (box) {
        if (target.checked) selected.add(box.value); else selected.delete(box.value);
      });
      refreshSelection();
    } else if (target.matches(".column-chooser input[name=columns]")) {
      saveColumns(target.closest(".menu"));
    } else if (target.matches("select.autosubmit")) {
      var form = target.form;
      if (form.requestSubmit) form.requestSubmit(); else form.submit();
    }
  });

  function csrfToken() {
    var input = document.querySelector("#selection input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function saveColumns(menu) {
    var explorer = document.getElementById("explorer");
    var body = new URLSearchParams();
    menu.querySelectorAll("input[name=columns]").forEach(function (box) {
      explorer.classList.toggle("hide-" + box.value, !box.checked);
      if (box.checked) body.append("columns", box.value);
    });
    fetch(menu.getAttribute("data-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "X-Requested-With": "fetch" },
      body: body
    }).catch(function () { /* the choice still applies to this page; it is just not remembered */ });
  }

  // Delete asks first, in a dialog that says it cannot be undone; the server asks again without JS.
  var pendingDelete = null;
  document.addEventListener("click", function (event) {
    var button = event.target.closest("#explorer button.delete-selected");
    if (button) {
      event.preventDefault();
      var dialog = document.getElementById("confirm-delete");
      dialog.querySelector(".confirm-count").textContent = String(selected.size);
      pendingDelete = button.form;
      dialog.showModal();
      return;
    }
    if (event.target.matches("#confirm-delete .cancel")) {
      document.getElementById("confirm-delete").close();
      pendingDelete = null;
    } else if (event.target.matches("#confirm-delete .confirm-yes") && pendingDelete) {
      var form = pendingDelete;
      [["action", "delete"], ["confirm", "yes"]].forEach(function (pair) {
        var input = document.createElement("input");
        input.type = "hidden";
        input.name = pair[0];
        input.value = pair[1];
        form.appendChild(input);
      });
      form.submit();
    }
  });

  // Rows swapped in by the live refresh come back unchecked; put the selection back.
  document.addEventListener("htmx:afterSettle", refreshSelection);
  document.addEventListener("htmx:oobAfterSwap", refreshSelection);
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail && event.detail.target && event.detail.target.id === "explorer") selected.clear();
    refreshSelection();
  });
  // A failed refresh keeps the rows; show that the view may be stale instead of failing silently.
  document.addEventListener("htmx:responseError", markStale);
  document.addEventListener("htmx:sendError", markStale);
  function markStale() {
    var live = document.getElementById("live-poller");
    if (live) live.classList.add("stale");
  }

  refreshSelection();
})();
