// The payments window's module (/api/v1/payments only): the fee panel of a renewal and the list.
import { ApiError } from "../http.js";
import { h, alertBox, announce, money, newKey, when } from "../ui.js";

export const PREFIX = "/api/v1/payments";

/** The "pay the fee" panel inside a renewal's page; `update(renewal)` on every status poll. */
export function feePanel(el, ctx) {
  let key = null; // one Idempotency-Key per attempt: a double click or a retry after a failure pays once
  let busy = false;
  let paidHere = null;
  let current = null;
  const message = h("div");
  const button = h("button", { class: "usa-button", type: "button", id: "pay-fee" });

  async function pay() {
    if (busy || !current) return;
    busy = true;
    button.setAttribute("aria-disabled", "true");
    key ??= newKey();
    message.replaceChildren(h("p", { role: "status" }, "Paying…"));
    try {
      const payment = await ctx.client.post(PREFIX, {
        json: { amount: current.fee.amount, currency: current.fee.currency, purpose: "Passport renewal fee", renewal_id: current.id },
        idempotencyKey: key,
      });
      paidHere = payment;
      key = null;
      announce(`Payment of ${money(payment.amount, payment.currency)} received.`);
      draw();
      ctx.refresh();
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      if (!error.retryable) key = null; // a retry after a network failure or 5xx keeps the key
      message.replaceChildren(alertBox("error", "Your payment did not go through", error.sentence));
    } finally {
      busy = false;
      button.removeAttribute("aria-disabled");
    }
  }
  button.addEventListener("click", pay);

  function draw() {
    const r = current;
    const fee = money(r.fee.amount, r.fee.currency);
    if (r.payment_id || paidHere) {
      el.replaceChildren(
        h("h2", {}, "Renewal fee"),
        alertBox("success", null, `Paid: ${fee}.${r.payment_id ? "" : " The renewal will show it in a moment."}`),
      );
      return;
    }
    button.textContent = `Pay ${fee}`;
    el.replaceChildren(
      h("h2", {}, "Renewal fee"),
      h("p", {}, `The renewal fee is ${fee}. Pay it once; paying again is not needed.`),
      message,
      button,
    );
  }

  return {
    update(renewal) {
      const before = current && (current.payment_id || null);
      current = renewal;
      if (!el.firstChild || before !== (renewal.payment_id || null)) draw();
    },
  };
}

/** `#/payments`: the citizen's payments. */
export function renderList(view, ctx) {
  view.replaceChildren(h("h1", { id: "page-title", tabindex: "-1" }, "Your payments"));
  const body = h("div", {}, h("p", {}, "Loading your payments…"));
  view.append(body);
  ctx.client.get(PREFIX).then((page) => {
    if (!page.items.length) {
      body.replaceChildren(h("p", {}, "You have made no payments."));
      return;
    }
    body.replaceChildren(
      h("table", { class: "usa-table usa-table--borderless", id: "payments" },
        h("caption", {}, "Your payments, newest first"),
        h("thead", {}, h("tr", {}, ["Date", "Purpose", "Amount", "Status"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, page.items.map((p) => h("tr", {},
          h("th", { scope: "row" }, when(p.created_at)),
          h("td", {}, p.purpose),
          h("td", {}, money(p.amount, p.currency)),
          h("td", {}, p.status === "captured" ? "Paid" : p.status))))),
    );
  }).catch((error) => {
    if (!(error instanceof ApiError)) throw error;
    body.replaceChildren(alertBox("error", "We could not load your payments", error.sentence));
  });
  return () => {};
}
