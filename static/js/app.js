// Small behaviours the pages share. No inline scripts anywhere: everything binds here by data attributes.
(function () {
  "use strict";

  function copyText(text, button) {
    if (!navigator.clipboard) return;
    navigator.clipboard.writeText(text).then(function () {
      const content = button.innerHTML;
      button.textContent = "Copied";
      setTimeout(function () { button.innerHTML = content; }, 1200);
    });
  }

  document.addEventListener("click", function (event) {
    const confirmer = event.target.closest("[data-confirm]");
    if (confirmer && !window.confirm(confirmer.dataset.confirm)) {
      event.preventDefault();
      return;
    }
    const button = event.target.closest("[data-copy], [data-copy-from]");
    if (!button) return;
    event.preventDefault();
    if (button.dataset.copy !== undefined) {
      copyText(button.dataset.copy, button);
    } else {
      const source = document.getElementById(button.dataset.copyFrom);
      if (source) copyText(source.textContent, button);
    }
  });

  // GET requests made by htmx (filters, sorting, paging) leave empty parameters out, so URLs stay readable.
  document.addEventListener("htmx:configRequest", function (event) {
    if (event.detail.verb !== "get") return;
    const params = event.detail.parameters;
    Object.keys(params).forEach(function (name) {
      const value = params[name];
      const values = Array.isArray(value) ? value : [value];
      if (values.every(function (v) { return v === "" || v === null; })) delete params[name];
    });
  });

  // "/" focuses the element marked data-shortcut="/" (the search box), unless the user is typing.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    const typing = event.target.closest("input:not([type=checkbox]):not([type=radio]), textarea, select, [contenteditable]");
    const target = document.querySelector('[data-shortcut="/"]');
    if (typing || !target) return;
    event.preventDefault();
    target.focus();
    target.select();
  });
})();

// Feedback for htmx requests that fail outright (no swap happens for errors): say what happened and what to do.
(function () {
  "use strict";

  function flash(text) {
    let box = document.getElementById("request-error");
    if (!box) {
      box = document.createElement("div");
      box.id = "request-error";
      box.className = "alert alert-error floating";
      box.setAttribute("role", "alert");
      document.body.appendChild(box);
    }
    box.textContent = text;
    box.hidden = false;
    clearTimeout(box.hideTimer);
    box.hideTimer = setTimeout(function () { box.hidden = true; }, 12000);
  }

  // A form sent back with its errors keeps its honest status (400, 409, 502) and says so: swap it in like a 200.
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.xhr.getResponseHeader("X-Console-Swap") !== "form") return;
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  });

  document.addEventListener("htmx:responseError", function (event) {
    const status = event.detail.xhr.status;
    const said = event.detail.xhr.getResponseHeader("X-Console-Message");
    if (said) {
      flash(said + " (" + status + ")");
    } else if (status === 403) {
      flash("Not allowed (403): your role does not permit this, or the page is stale. Reload the page and try again.");
    } else if (status === 503 && event.detail.xhr.getResponseHeader("X-Console-Unavailable") === "database") {
      flash("The console's database is busy or restarting (503). Try again in a few seconds; if you were saving, check the slice's history first.");
    } else if (status >= 500) {
      flash("The console failed to answer (" + status + "). Nothing more was sent to Kodexa than the audit trail shows. Try again.");
    } else {
      flash("The request failed (" + status + "). Reload the page and try again.");
    }
  });
  document.addEventListener("htmx:sendError", function () {
    flash("The console could not be reached. Check your connection, then try again.");
  });
  // After a form comes back with errors, move focus to its message so keyboard and screen reader users hear it.
  document.addEventListener("htmx:afterSettle", function () {
    const target = document.querySelector("[data-focus]");
    if (!target) return;
    target.removeAttribute("data-focus");
    target.focus();
  });
})();

// Row selection for bulk edits: the page checkbox selects every row; the count of selected rows stays visible.
(function () {
  "use strict";

  function rows() { return Array.from(document.querySelectorAll("input[data-row-select]")); }

  function refresh() {
    const all = rows();
    const chosen = all.filter(function (box) { return box.checked; }).length;
    document.querySelectorAll("[data-selected-count]").forEach(function (el) { el.textContent = String(chosen); });
    document.querySelectorAll("[data-needs-selection]").forEach(function (button) { button.disabled = chosen === 0; });
    document.querySelectorAll("input[data-select-page]").forEach(function (box) {
      box.checked = all.length > 0 && chosen === all.length;
      box.indeterminate = chosen > 0 && chosen < all.length;
    });
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches("input[data-select-page]")) {
      rows().forEach(function (box) { box.checked = event.target.checked; });
    }
    if (event.target.matches("input[data-select-page], input[data-row-select]")) refresh();
  });
  document.addEventListener("htmx:afterSettle", refresh);
  document.addEventListener("DOMContentLoaded", refresh);
})();

// Keyboard: j/k move through the rows of the page's table, o or Enter opens the row, x selects it for a bulk
// edit, ? lists the shortcuts. Keys typed into a field are left alone.
(function () {
  "use strict";

  function rows() { return Array.from(document.querySelectorAll("table.data tbody tr")).filter(function (row) {
    return row.querySelector("a, input[data-row-select]");
  }); }

  function current() { return document.querySelector("table.data tbody tr.current"); }

  function move(step) {
    const all = rows();
    if (!all.length) return;
    const at = all.indexOf(current());
    const next = all[Math.max(0, Math.min(all.length - 1, at < 0 ? 0 : at + step))];
    all.forEach(function (row) { row.classList.remove("current"); row.removeAttribute("aria-current"); });
    next.classList.add("current");
    next.setAttribute("aria-current", "true");
    const target = next.querySelector("a, input[data-row-select]");
    if (target) target.focus({ preventScroll: true });
    next.scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest("input:not([type=checkbox]), textarea, select, [contenteditable], dialog")) return;
    const dialog = document.getElementById("shortcuts");
    if (event.key === "?") {
      event.preventDefault();
      if (dialog && !dialog.open) dialog.showModal();
    } else if (event.key === "j" || event.key === "k") {
      event.preventDefault();
      move(event.key === "j" ? 1 : -1);
    } else if (event.key === "x") {
      const row = current();
      const box = row && row.querySelector("input[data-row-select]");
      if (box) {
        event.preventDefault();
        box.click();
      }
    } else if (event.key === "o") {
      const link = current() && current().querySelector("a");
      if (link) link.click();
    }
  });
})();

// Times shown in UTC also say when that is in the browser's own time zone: <time data-local-time>, and the
// "Start at (UTC)" field's echo (data-local-echo names the input).
(function () {
  "use strict";

  // Fields one by one: dateStyle/timeStyle may not be combined with timeZoneName (toLocaleString throws).
  const LOCAL = { year: "numeric", month: "short", day: "numeric", hour: "numeric", minute: "2-digit", timeZoneName: "short" };

  function local(date) {
    return date.toLocaleString(undefined, LOCAL);
  }

  function showLocalTimes(root) {
    root.querySelectorAll("time[data-local-time]").forEach(function (node) {
      if (node.dataset.localShown) return;
      const date = new Date(node.getAttribute("datetime"));
      if (isNaN(date)) return;
      node.dataset.localShown = "1";
      node.title = node.textContent.trim();
      node.textContent = node.textContent.trim() + " (" + local(date) + " your time)";
    });
  }

  function echo(input, target) {
    const value = input.value;
    target.textContent = value ? "That is " + local(new Date(value + ":00Z")) + " in your time zone." : "";
  }

  function bindEchoes(root) {
    root.querySelectorAll("[data-local-echo]").forEach(function (target) {
      const input = document.getElementById(target.dataset.localEcho);
      if (!input || input.dataset.echoBound) return;
      input.dataset.echoBound = "1";
      input.addEventListener("input", function () { echo(input, target); });
      echo(input, target);
    });
  }

  function init(root) { showLocalTimes(root); bindEchoes(root); }
  document.addEventListener("DOMContentLoaded", function () { init(document); });
  // htmx:load names the new content itself (an outerHTML swap's target is the element it replaced).
  document.addEventListener("htmx:load", function (event) { init(event.detail.elt); });
})();
