/* bhpolicy pages: the only script besides htmx. It sends the session's CSRF token (from the
   <meta name="csrf-token"> of the page) with every htmx request, and wires the print button.
   No inline script and no hx-on anywhere: the CSP allows script files of this site only. */
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") || "" : "";
  }

  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = csrfToken();
  });

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target.closest("[data-print]") : null;
    if (target) {
      event.preventDefault();
      window.print();
    }
  });
})();
