// Live refresh of a sending's page: progress, status and the 14 counters. Every 5 s while the
// sending runs and during the first minute on the page, then every 15 s for a while, since delivery
// reports keep arriving after the last message has gone. Without JavaScript the page is complete; reloading shows the same numbers.
(function () {
  "use strict";
  var box = document.getElementById("sending-live");
  if (!box || !window.fetch) { return; }
  var url = box.dataset.statusUrl;
  var polls = 0;
  function set(selector, value) {
    var node = document.querySelector(selector);
    if (node) { node.textContent = value; }
  }
  function refresh() {
    polls += 1;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        var badge = document.querySelector('[data-field="status"]');
        if (badge) { badge.textContent = data.status; badge.className = "badge status-" + data.status.toLowerCase(); }
        set('[data-field="processed"]', data.processed);
        set('[data-field="total"]', data.total);
        set('[data-field="percent"]', data.percent);
        var bar = document.getElementById("sending-progress");
        if (bar) { bar.value = data.percent; bar.textContent = data.percent + "%"; }
        Object.keys(data.counters).forEach(function (name) {
          set('[data-counter="' + name + '"]', data.counters[name]);
        });
        if (polls < 240) { window.setTimeout(refresh, data.live || polls < 12 ? 5000 : 15000); }
      })
      .catch(function () { if (polls < 240) { window.setTimeout(refresh, 15000); } });
  }
  window.setTimeout(refresh, 3000);
})();

// A big sending's chart is drawn by a background task: fetch it when it is ready.
(function () {
  "use strict";
  var slot = document.getElementById("chart-slot");
  if (!slot || !window.fetch) { return; }
  var tries = 0;
  function load() {
    tries += 1;
    fetch(slot.dataset.chartUrl, { credentials: "same-origin" })
      .then(function (response) { return response.status === 200 ? response.text() : null; })
      .then(function (html) {
        if (html) {
          slot.innerHTML = html;
        } else if (tries < 60) {
          window.setTimeout(load, 2000);
        }
      })
      .catch(function () { if (tries < 60) { window.setTimeout(load, 5000); } });
  }
  window.setTimeout(load, 1000);
})();
