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
    const typing = event.target.closest("input, textarea, select, [contenteditable]");
    const target = document.querySelector('[data-shortcut="/"]');
    if (typing || !target) return;
    event.preventDefault();
    target.focus();
    target.select();
  });
})();
