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
})();
