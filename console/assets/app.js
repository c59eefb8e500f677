// Avvio console: the few lines of script the pages need (no inline script: the CSP forbids it).
// - htmx requests carry the session's CSRF token (X-CSRF-Token) and the page's relative root
//   (X-Console-Root), so the partial the server answers links correctly from this page.
// - A partial update that fails shows its reason in the flash region instead of failing silently.
"use strict";

(function () {
  function meta(name) {
    var element = document.querySelector('meta[name="' + name + '"]');
    return element ? element.getAttribute("content") : null;
  }

  document.addEventListener("htmx:configRequest", function (event) {
    var token = meta("csrf-token");
    if (token) event.detail.headers["X-CSRF-Token"] = token;
    var root = meta("console-root");
    if (root !== null) event.detail.headers["X-Console-Root"] = root;
  });

  function flash(text) {
    var region = document.getElementById("flash");
    if (!region) return;
    var message = document.createElement("p");
    message.className = "flash flash--error";
    message.textContent = text;
    region.replaceChildren(message);
  }

  document.addEventListener("htmx:responseError", function (event) {
    var region = document.getElementById("flash");
    var fallback = region ? region.dataset.requestFailed : "";
    var reason = "";
    try {
      var page = new DOMParser().parseFromString(event.detail.xhr.responseText, "text/html");
      var element = page.querySelector("[data-reason]");
      reason = element ? element.textContent.trim() : "";
    } catch (e) {
      reason = "";
    }
    flash(reason || fallback);
  });

  document.addEventListener("htmx:sendError", function () {
    var region = document.getElementById("flash");
    flash(region ? region.dataset.networkError : "");
  });

  // Choosing another type of trigger or action draws its inputs: the select presses the
  // form's hidden "update" button (a click, so htmx sends the button's `edit` value).
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!(select instanceof HTMLSelectElement) || !select.dataset.refresh || !select.form) return;
    var button = select.form.querySelector('button[name="edit"][value="refresh"]');
    if (button) button.click();
  });

  // A successful update clears an old message; a form drawn again with errors takes the
  // focus to its first invalid input (keyboard and screen-reader users land on it).
  document.addEventListener("htmx:afterSwap", function (event) {
    var region = document.getElementById("flash");
    if (region && event.detail.xhr.status < 400) region.replaceChildren();
    var form = document.getElementById("editor");
    var invalid = form && form.querySelector('[aria-invalid="true"]');
    if (invalid && event.detail.xhr.status === 422) invalid.focus();
  });
})();
