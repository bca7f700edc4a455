// Progress bar of a running contact import: polls the status endpoint every second until the
// import is done, then reloads once so the row errors table appears. Without JavaScript,
// reloading the page shows the same numbers.
(function () {
  "use strict";
  var box = document.getElementById("import-progress");
  if (!box || box.dataset.done === "1" || !window.fetch) { return; }
  var url = box.dataset.statusUrl;
  function set(name, value) {
    var node = box.querySelector('[data-field="' + name + '"]');
    if (node) { node.textContent = value; }
  }
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) { window.setTimeout(poll, 3000); return; }
        ["status", "processed_rows", "total_rows", "percent", "created_count", "updated_count", "error_count"]
          .forEach(function (name) { set(name, data[name]); });
        var bar = document.getElementById("import-bar");
        if (bar) { bar.value = data.percent; bar.textContent = data.percent + "%"; }
        if (data.done) {
          window.location.reload();
        } else {
          window.setTimeout(poll, 1000);
        }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
})();
