// Live preview: a form marked data-live-preview="<button id>" re-submits itself through that
// button (whose formaction/formtarget point at the sandboxed preview iframe) shortly after the
// last edit. Without JavaScript the Preview button does the same on click.
(function () {
  "use strict";
  document.querySelectorAll("form[data-live-preview]").forEach(function (form) {
    var button = document.getElementById(form.getAttribute("data-live-preview"));
    if (!button) { return; }
    var timer = null;
    function refresh() {
      timer = null;
      if (typeof form.requestSubmit === "function") { form.requestSubmit(button); } else { button.click(); }
    }
    function schedule() {
      if (timer) { clearTimeout(timer); }
      timer = setTimeout(refresh, 600);
    }
    form.addEventListener("input", schedule);
    form.addEventListener("change", schedule);
  });
})();
