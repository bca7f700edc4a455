// Form builder: shows only the inputs an element type uses, and adds element rows.
(function () {
  "use strict";
  var HEADINGS = ["h1", "h2", "h3", "h4", "p", "blockquote"];
  var PLACEHOLDER = ["text", "password", "email", "number", "textarea", "date", "color"];
  var OPTIONS = ["select", "radio"];
  function sync(item) {
    var type = item.querySelector(".element-type").value;
    item.setAttribute("data-type", type);
    var isInput = type !== "" && HEADINGS.indexOf(type) === -1;
    item.querySelectorAll(".for-input").forEach(function (el) { el.hidden = !isInput; });
    item.querySelectorAll(".for-placeholder").forEach(function (el) { el.hidden = PLACEHOLDER.indexOf(type) === -1; });
    item.querySelectorAll(".for-rows").forEach(function (el) { el.hidden = type !== "textarea"; });
    item.querySelectorAll(".for-options").forEach(function (el) { el.hidden = OPTIONS.indexOf(type) === -1; });
  }
  var list = document.getElementById("elements");
  if (!list) { return; }
  list.querySelectorAll(".element").forEach(sync);
  list.addEventListener("change", function (event) {
    if (event.target.classList.contains("element-type")) { sync(event.target.closest(".element")); }
  });
  var add = document.getElementById("add-element");
  var count = document.getElementById("row-count");
  add.hidden = false;
  add.addEventListener("click", function () {
    var items = list.querySelectorAll(".element");
    var last = items[items.length - 1];
    var index = items.length;
    var copy = last.cloneNode(true);
    copy.querySelectorAll("[name], [id], label[for]").forEach(function (el) {
      ["name", "id", "for"].forEach(function (attr) {
        var value = el.getAttribute(attr);
        if (value) { el.setAttribute(attr, value.replace(/^f-\d+-/, "f-" + index + "-")); }
      });
      if (el.tagName === "SELECT") { el.value = ""; }
      else if (el.type === "checkbox") { el.checked = false; }
      else if (el.tagName === "INPUT" || el.tagName === "TEXTAREA") { el.value = ""; }
    });
    copy.querySelectorAll(".error").forEach(function (el) { el.remove(); });
    copy.querySelector("legend").textContent = "Element " + (index + 1);
    list.appendChild(copy);
    count.value = String(index + 1);
    sync(copy);
    copy.querySelector(".element-type").focus();
  });
})();
