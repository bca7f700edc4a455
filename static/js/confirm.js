// Asks before a destructive action: a form with data-confirm asks when it is submitted, a submit
// button with data-confirm asks when it is the one pressed. Kept out of the templates (no inline
// handlers) so the Content-Security-Policy can refuse every inline script.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var button = event.submitter;
    var question = (button && button.dataset.confirm) || form.dataset.confirm;
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });
})();
