// The notifications window's module (/api/v1/notifications only): what was sent to the citizen.
import { ApiError } from "../http.js";
import { h, alertBox, announce, when } from "../ui.js";

export const PREFIX = "/api/v1/notifications";
const POLL_MS = 2000;
const DELIVERY = { sent: "Emailed", pending: "Sending", no_address: "No email address", failed: "Not delivered" };

/** `#/notifications`: newest first, refreshed while the page is open. */
export function renderList(view, ctx) {
  let timer = null;
  let stopped = false;
  let count = null;
  view.replaceChildren(
    h("h1", { id: "page-title", tabindex: "-1" }, "Your notifications"),
    h("p", {}, "Updates about your renewal. This page refreshes by itself."),
  );
  const body = h("div", {}, h("p", {}, "Loading your notifications…"));
  view.append(body);

  async function load() {
    try {
      const page = await ctx.client.get(PREFIX);
      if (count !== null && page.items.length > count) announce(`${page.items.length - count} new notification(s).`);
      count = page.items.length;
      body.replaceChildren(
        page.items.length
          ? h("ul", { class: "usa-card-group", id: "notifications", "data-count": page.items.length },
            page.items.map((n) => h("li", { class: "usa-card tablet:grid-col-12" },
              h("div", { class: "usa-card__container" },
                h("div", { class: "usa-card__header" }, h("h2", { class: "usa-card__heading" }, n.subject)),
                h("div", { class: "usa-card__body" },
                  h("p", {}, `${when(n.created_at)} · ${DELIVERY[n.delivery] || n.delivery}${n.recipient ? ` to ${n.recipient}` : ""}`))))))
          : h("p", { id: "notifications", "data-count": 0 }, "You have no notifications yet."),
      );
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      body.replaceChildren(alertBox("error", "We could not load your notifications", error.sentence));
      if (!error.retryable) return;
    }
    if (!stopped) timer = setTimeout(load, POLL_MS);
  }
  load();
  return () => { stopped = true; clearTimeout(timer); };
}
