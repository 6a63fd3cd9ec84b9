// tickwork console: the little the pages need beyond HTML.
// - [data-refresh-url]: reload that fragment every 5 s while #auto-refresh is checked and
//   the tab is visible (a refused key sends the whole page to the key page).
// - form[data-confirm]: ask before submitting (Delete).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
    });
  });
  var box = document.getElementById("auto-refresh");
  document.querySelectorAll("[data-refresh-url]").forEach(function (target) {
    var busy = false;
    window.setInterval(function () {
      if (busy || (box && !box.checked) || document.visibilityState !== "visible") return;
      busy = true;
      fetch(target.getAttribute("data-refresh-url"), { credentials: "same-origin" })
        .then(function (response) {
          if (response.redirected || !response.ok) { window.location.reload(); return null; }
          return response.text();
        })
        .then(function (html) { if (html !== null) target.innerHTML = html; })
        .catch(function () { /* offline for a moment: try again at the next tick */ })
        .finally(function () { busy = false; });
    }, 5000);
  });
});
