// The OpenAPI UI: swagger-ui-dist's bundle (a global), pointed at the stable URL of docs/openapi.json.
// Deep links stay off: they put a link inside each operation's toggle button (nested interactive
// controls). Swagger UI leaves its server picker and server variables unlabelled: they are named here,
// after each render, so the page stays clean under axe-core.
function label() {
  const servers = document.querySelector("select#servers");
  if (servers && !servers.hasAttribute("aria-label")) servers.setAttribute("aria-label", "Server");
  for (const input of document.querySelectorAll("input[data-variable]:not([aria-label])")) {
    input.setAttribute("aria-label", `Server variable ${input.getAttribute("data-variable")}`);
  }
}

window.addEventListener("DOMContentLoaded", () => {
  new MutationObserver(label).observe(document.getElementById("swagger-ui"), { childList: true, subtree: true });
  window.SwaggerUIBundle({
    url: "/_hms/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: false,
    docExpansion: "list",
    defaultModelsExpandDepth: 0,
    tryItOutEnabled: false,
    onComplete: () => {
      label();
      document.body.setAttribute("data-ready", "true");
    },
  });
});
