/*
 * Behaviour every page shares, in a file because the Content-Security-Policy forbids inline
 * handlers (onchange=, onclick=):
 *   <select data-autosubmit>  submits its form when the choice changes;
 *   <button data-print>       opens the browser's print dialogue.
 * Listeners sit on the document, so content swapped in by htmx behaves the same.
 */
(function () {
  "use strict";

  document.addEventListener("change", function (event) {
    var field = event.target;
    if (field instanceof HTMLElement && field.hasAttribute("data-autosubmit") && field.form) {
      field.form.submit();
    }
  });

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target.closest("[data-print]") : null;
    if (target) {
      event.preventDefault();
      window.print();
    }
  });
})();
