/* The API explorer: swagger-ui from the vendored bundle, reading this server's /openapi.json
   (the default FastAPI page would load it from a CDN with an inline script). */
window.addEventListener("load", function () {
  "use strict";
  window.ui = window.SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    validatorUrl: null,
    tryItOutEnabled: false
  });
});
