// Progress of a contact import on its admin page: polls the status endpoint until the import is done,
// then reloads once for the final numbers and the error download.
(function () {
  "use strict";
  var root = document.querySelector(".contact-import-status");
  if (!root || root.dataset.done === "1") { return; }
  function show(id, value) { document.getElementById(id).textContent = value; }
  function poll() {
    fetch(root.dataset.statusUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.json(); })
      .then(function (data) {
        show("import-status", data.status);
        show("import-processed", data.processed_rows);
        show("import-total", data.total_rows);
        show("import-created", data.created_count);
        show("import-updated", data.updated_count);
        show("import-errors", data.error_count);
        show("import-percent", data.percent + "%");
        document.getElementById("import-progress").value = data.percent;
        // The finished page carries the error download link and the final numbers from the import row.
        if (data.done) { window.location.reload(); } else { window.setTimeout(poll, 1500); }
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 1000);
}());
