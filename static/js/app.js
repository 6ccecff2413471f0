// Small behaviours the pages share. No inline scripts anywhere: everything binds here by data attributes.
(function () {
  "use strict";

  function copyText(text, button) {
    if (!navigator.clipboard) return;
    navigator.clipboard.writeText(text).then(function () {
      const label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1200);
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
