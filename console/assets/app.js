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

  // A successful update clears an old message.
  document.addEventListener("htmx:afterSwap", function () {
    var region = document.getElementById("flash");
    if (region) region.replaceChildren();
  });
})();
