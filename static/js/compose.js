// Compose page: progressive help while typing. Every figure comes from the server (audience
// count, rendering, SMS encoding and parts, cost); this script only sends the form's fields to
// the JSON endpoints, debounced, and shows the answers. Without it the form still works.
(function () {
  "use strict";

  const form = document.getElementById("compose-form");
  if (!form) return;
  document.documentElement.classList.add("js");

  const $ = (id) => document.getElementById(id);
  const csrf = form.querySelector("[name=csrfmiddlewaretoken]").value;
  const sample = $("sample");
  let audience = null; // last audience answer
  let smsParts = 0;

  function debounce(fn, wait) {
    let timer = null;
    return function () {
      clearTimeout(timer);
      timer = setTimeout(fn, wait);
    };
  }

  // Only the newest answer of each kind is shown, even if an older request returns later.
  function latest(fn) {
    let counter = 0;
    return async function () {
      const ticket = ++counter;
      const result = await fn();
      if (ticket === counter && result) return result;
      return null;
    };
  }

  async function post(url, data) {
    try {
      const response = await fetch(url, {
        method: "POST",
        body: data,
        headers: { "X-CSRFToken": csrf, "X-Requested-With": "fetch" },
        credentials: "same-origin",
      });
      return await response.json();
    } catch (error) {
      return null;
    }
  }

  function channel() {
    const checked = form.querySelector("input[name=channel]:checked");
    return checked ? checked.value : "sms";
  }

  function setText(id, text) {
    const node = $(id);
    if (node) node.textContent = text;
  }

  function show(id, text) {
    const node = $(id);
    if (!node) return;
    node.textContent = text || "";
    node.hidden = !text;
  }

  // ---- channel and timing switches ------------------------------------------------------
  function syncChannel() {
    form.dataset.channel = channel();
  }

  function syncWhen() {
    const later = form.querySelector("input[name=when]:checked");
    const isLater = later && later.value === "later";
    form.dataset.when = isLater ? "later" : "now";
    setText("send-button", isLater ? "Schedule" : "Send now");
  }

  // ---- audience -------------------------------------------------------------------------
  const fetchAudience = latest(() => post(form.dataset.audienceUrl, new FormData(form)));

  async function refreshAudience() {
    const answer = await fetchAudience();
    if (!answer) return;
    audience = answer;
    if (answer.errors) {
      setText("audience-count", "–");
      setText("audience-detail", Object.values(answer.errors).join(" "));
      renderCost();
      return;
    }
    if (answer.mode === "landing-groups") {
      setText("audience-count", "–");
      setText("audience-detail", "Landing SMS go to chosen contacts and typed numbers, not to groups.");
    } else if (answer.mode === "none") {
      setText("audience-count", "–");
      setText("audience-detail", "Choose recipients to see how many will get it.");
    } else if (answer.mode === "mixed") {
      setText("audience-count", "–");
      setText("audience-detail", "Send to groups, or to chosen contacts and typed recipients, not both.");
    } else {
      setText("audience-count", answer.sendable + (answer.sendable === 1 ? " recipient" : " recipients"));
      const details = [answer.found + " found"];
      if (answer.blacklisted) details.push(answer.blacklisted + " on the blacklist");
      if (answer.duplicates) details.push(answer.duplicates + " duplicate");
      if (answer.withoutAddress) details.push(answer.withoutAddress + " without an address for this channel");
      if (answer.invalidCount) details.push(answer.invalidCount + " not valid (" + answer.invalid.join(", ") + ")");
      setText("audience-detail", details.join(" · "));
    }
    fillSamples(answer.samples || []);
    renderCost();
  }

  function fillSamples(samples) {
    const chosen = sample.value;
    while (sample.options.length > 1) sample.remove(1);
    for (const [key, label] of samples) {
      const option = document.createElement("option");
      option.value = key;
      option.textContent = label;
      sample.appendChild(option);
    }
    if (samples.some(([key]) => key === chosen)) {
      sample.value = chosen;
    } else if (samples.length) {
      sample.value = samples[0][0];
      refreshPreview();
    }
  }

  function renderCost() {
    if (!audience || audience.costPerPart === undefined) {
      show("cost-estimate", "");
      return;
    }
    if (channel() === "mailing") {
      show("cost-estimate", "Email has no per-message price.");
      return;
    }
    // The server priced one part per recipient by destination country; the counter gave the parts.
    const cost = Number(audience.costPerPart) * Math.max(smsParts, 1);
    const balance = Number(audience.balance);
    const text = "Estimated cost " + cost.toFixed(2) + " " + audience.currency + " of a balance of " +
      balance.toFixed(2) + " " + audience.currency + ".";
    const node = $("cost-estimate");
    node.hidden = false;
    node.textContent = cost > balance ? text + " Not enough balance." : text;
    node.className = cost > balance ? "error" : "";
  }

  // ---- preview and SMS counter ----------------------------------------------------------
  const fetchPreview = latest(() => {
    const data = new FormData();
    for (const name of ["channel", "message", "subject", "body", "encoding", "sample"]) {
      const field = form.elements[name];
      if (field && field.value !== undefined) data.append(name, name === "channel" ? channel() : field.value);
    }
    const trans = form.elements.trans;
    if (trans && trans.checked) data.append("trans", "on");
    return post(form.dataset.previewUrl, data);
  });

  async function refreshPreview() {
    const answer = await fetchPreview();
    if (!answer) return;
    const errors = Object.values(answer.errors || {});
    show("preview-errors", errors.join(" "));
    if (channel() === "mailing") {
      setText("preview-subject", answer.subject);
      $("preview-frame").srcdoc = answer.body; // sandboxed: no script, no same-origin access
    } else {
      setText("preview-sms", answer.body);
    }
    if (answer.sms) renderCounter(answer.sms);
  }

  function renderCounter(sms) {
    smsParts = sms.parts;
    setText("counter-encoding", sms.label);
    setText("counter-chars", sms.characters + " characters, " + sms.units + (sms.label === "UTF-16" ? " code units" : " septets"));
    setText("counter-parts", sms.parts + (sms.parts > 1 ? " (" + sms.perPartLimit + " per part)" : ""));
    setText("counter-left", String(sms.leftInPart));
    show("counter-forcing", sms.forcingUtf16.length ? "UTF-16 because of: " + sms.forcingUtf16.join(" ") : "");
    show(
      "counter-unsupported",
      sms.unsupported.length ? sms.label + " cannot carry: " + sms.unsupported.join(" ") + ". Choose UTF-16 or Automatic, or turn on trans." : ""
    );
    const changes = sms.trans.changes;
    show(
      "counter-trans",
      changes.length
        ? "trans would change " + changes.map(([a, b]) => a + "→" + (b || "(removed)")).join(", ") +
            ": " + sms.trans.label + ", " + sms.trans.parts + (sms.trans.parts === 1 ? " part." : " parts.")
        : ""
    );
    renderCost();
  }

  // ---- contact search -------------------------------------------------------------------
  const search = $("contact-search");
  const results = $("contact-results");
  const contactsField = form.elements.contacts;

  function chosenIds() {
    return contactsField.value.split(/[\s,;]+/).filter(Boolean);
  }

  const runSearch = debounce(async () => {
    const query = search.value.trim();
    results.replaceChildren();
    if (query.length < 2) return;
    const response = await fetch(form.dataset.contactsUrl + "?q=" + encodeURIComponent(query), { credentials: "same-origin" });
    if (!response.ok) return;
    const answer = await response.json();
    for (const item of answer.results) {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "link";
      button.textContent = "Add " + item.label;
      button.addEventListener("click", () => {
        const ids = chosenIds();
        if (!ids.includes(String(item.id))) ids.push(String(item.id));
        contactsField.value = ids.join(", ");
        li.remove();
        refreshAudienceSoon();
      });
      li.appendChild(button);
      results.appendChild(li);
    }
    if (!answer.results.length) {
      const li = document.createElement("li");
      li.textContent = "No contact matches.";
      results.appendChild(li);
    }
  }, 250);

  // ---- template picker ------------------------------------------------------------------
  async function loadTemplate(picker, target) {
    const choice = form.elements[picker].value;
    if (!choice) return;
    const body = form.elements[target];
    if (body.value.trim() && !window.confirm("Replace the body with the template?")) return;
    const response = await fetch(form.dataset.templateUrl + "?template=" + encodeURIComponent(choice), { credentials: "same-origin" });
    const answer = await response.json();
    if (answer.body !== undefined) {
      body.value = answer.body;
      refreshPreview();
    }
  }

  // ---- wiring ---------------------------------------------------------------------------
  const refreshAudienceSoon = debounce(refreshAudience, 300);
  const refreshPreviewSoon = debounce(refreshPreview, 250);

  form.addEventListener("input", (event) => {
    const name = event.target.name;
    if (["message", "subject", "body"].includes(name)) refreshPreviewSoon();
    if (["contacts", "pasted"].includes(name)) refreshAudienceSoon();
  });
  form.addEventListener("change", (event) => {
    const name = event.target.name;
    if (name === "channel") {
      syncChannel();
      refreshAudience();
      refreshPreview();
    } else if (name === "when") {
      syncWhen();
    } else if (["groups", "all_contacts"].includes(name)) {
      refreshAudience();
    } else if (["encoding", "trans", "sample"].includes(event.target.id === "sample" ? "sample" : name)) {
      refreshPreview();
    } else if (name === "template") {
      loadTemplate("template", "body");
    } else if (name === "landing_template") {
      loadTemplate("landing_template", "landing_body");
    }
  });
  if (search) search.addEventListener("input", runSearch);

  syncChannel();
  syncWhen();
  refreshAudience();
  refreshPreview();
})();
