// The passport window's module: renewals (/api/v1/renewals only). It starts a renewal, lists them,
// and follows one to ready_for_review by polling. The fee and the photo panels inside a renewal's
// page belong to the payments and documents modules (the shell hands them in as slots).
import { ApiError } from "../http.js";
import { h, alertBox, announce, money, newKey, when } from "../ui.js";
import { checkbox, clearErrors, fieldset, showErrors, textField, value } from "../form.js";

export const PREFIX = "/api/v1/renewals";
const POLL_MS = 1500;

const STATUS_TEXT = {
  submitted: "Submitted: waiting for the fee and the photo",
  paid: "Fee paid: waiting for the photo",
  photo_received: "Photo received: waiting for the fee",
  ready_for_review: "Ready for review: an officer will look at it next",
};
const STEPS = [
  ["submitted", "Submitted"],
  ["paid", "Fee paid"],
  ["photo_received", "Photo received"],
  ["ready_for_review", "Ready for review"],
];

const FIELDS = {
  full_name: "Enter your full name.",
  date_of_birth: "Enter your date of birth.",
  passport_number: "Enter your passport number.",
  passport_issued_on: "Enter the date your passport was issued.",
  passport_expires_on: "Enter the date your passport expires.",
  "mailing_address.line1": "Enter the first line of your address.",
  "mailing_address.city": "Enter your city or town.",
  "mailing_address.state": "Enter your state or region.",
  "mailing_address.postal_code": "Enter your ZIP or postal code.",
  "mailing_address.country": "Enter your country's two-letter code.",
};

const DATE_HINT = "Year-month-day, for example 2017-03-01";

export function renewalForm(person) {
  return h(
    "form",
    { class: "usa-form usa-form--large", novalidate: true, "aria-labelledby": "page-title" },
    h("div", { class: "portal-error-summary" }),
    h("p", {}, "All questions are required unless marked optional."),
    fieldset(
      "About you",
      textField("full_name", "Full name", { hint: "As it should appear on your new passport", autocomplete: "name", value: person?.name || "" }),
      textField("date_of_birth", "Date of birth", { hint: "Year-month-day, for example 1990-04-28", autocomplete: "bday", inputmode: "numeric", width: "medium" }),
      textField("email", "Email", { optional: true, type: "email", autocomplete: "email", hint: "Where we send updates. Without one we use your sign-in email.", value: person?.email || "" }),
    ),
    fieldset(
      "Your current passport",
      textField("passport_number", "Passport number", { hint: "6 to 9 letters or digits", width: "medium", autocomplete: "off" }),
      textField("passport_issued_on", "Date of issue", { hint: DATE_HINT, inputmode: "numeric", width: "medium" }),
      textField("passport_expires_on", "Date of expiration", { hint: DATE_HINT, inputmode: "numeric", width: "medium" }),
      textField("name_on_passport", "Name on your current passport", { optional: true, hint: "Only if it differs from your full name", autocomplete: "off" }),
      checkbox("passport_damaged", "My passport is damaged"),
      checkbox("passport_lost_or_stolen", "My passport was lost or stolen"),
    ),
    fieldset(
      "Mailing address",
      textField("mailing_address.line1", "Street address", { autocomplete: "address-line1" }),
      textField("mailing_address.line2", "Street address line 2", { optional: true, autocomplete: "address-line2" }),
      textField("mailing_address.city", "City or town", { autocomplete: "address-level2" }),
      textField("mailing_address.state", "State, territory or region", { autocomplete: "address-level1", width: "medium" }),
      textField("mailing_address.postal_code", "ZIP or postal code", { autocomplete: "postal-code", width: "medium" }),
      textField("mailing_address.country", "Country", { hint: "Two-letter code, for example US", autocomplete: "country", width: "small", value: "US" }),
    ),
    h("div", { class: "portal-submit-status", role: "status" }),
    h("button", { class: "usa-button", type: "submit" }, "Submit renewal"),
  );
}

export function payloadOf(form) {
  const body = {
    full_name: value(form, "full_name"),
    date_of_birth: value(form, "date_of_birth"),
    passport_number: value(form, "passport_number"),
    passport_issued_on: value(form, "passport_issued_on"),
    passport_expires_on: value(form, "passport_expires_on"),
    mailing_address: {
      line1: value(form, "mailing_address.line1"),
      city: value(form, "mailing_address.city"),
      state: value(form, "mailing_address.state"),
      postal_code: value(form, "mailing_address.postal_code"),
      country: value(form, "mailing_address.country"),
    },
    passport_damaged: value(form, "passport_damaged"),
    passport_lost_or_stolen: value(form, "passport_lost_or_stolen"),
  };
  const line2 = value(form, "mailing_address.line2");
  if (line2) body.mailing_address.line2 = line2;
  const email = value(form, "email");
  if (email) body.email = email;
  const nameOnPassport = value(form, "name_on_passport");
  if (nameOnPassport) body.name_on_passport = nameOnPassport;
  return body;
}

function missing(form) {
  return Object.entries(FIELDS)
    .filter(([name]) => !value(form, name))
    .map(([field, message]) => ({ field, message }));
}

function reasonText(reason) {
  return typeof reason === "string" ? reason : reason?.reason || reason?.message || "is not valid";
}

/** `#/renew`: the renewal form. */
export function renderNew(view, ctx) {
  view.replaceChildren(
    h("h1", { id: "page-title", tabindex: "-1" }, "Renew your passport"),
    h("p", { class: "usa-intro" }, "Tell us about you and your current passport. We check eligibility before anything is saved."),
  );
  const form = renewalForm(ctx.session.person);
  view.append(form);
  const status = form.querySelector(".portal-submit-status");
  const button = form.querySelector("button[type=submit]");
  let attempt = null; // {key, body}: one Idempotency-Key per attempt; a retry of the same answers reuses it

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (button.disabled) return;
    const gaps = missing(form);
    if (gaps.length) {
      showErrors(form, gaps);
      return;
    }
    clearErrors(form);
    const body = payloadOf(form);
    const text = JSON.stringify(body);
    if (!attempt || attempt.body !== text) attempt = { key: newKey(), body: text };
    button.disabled = true;
    status.replaceChildren(h("p", {}, "Checking eligibility and submitting…"));
    try {
      const renewal = await ctx.client.post(PREFIX, { json: body, idempotencyKey: attempt.key });
      attempt = null;
      ctx.remember(renewal);
      announce("Your renewal was submitted.");
      ctx.navigate(`#/renewals/${renewal.id}`);
    } catch (error) {
      status.replaceChildren();
      if (!(error instanceof ApiError)) throw error;
      if (!error.retryable) attempt = null;
      const problem = error.problem || {};
      if (error.status === 403 && Array.isArray(problem.reasons)) {
        showErrors(form, [], "You cannot renew your passport online");
        const summary = form.querySelector(".portal-error-summary");
        summary.replaceChildren(
          h("div", { class: "usa-alert usa-alert--error", role: "alert", tabindex: "-1" },
            h("div", { class: "usa-alert__body" },
              h("h2", { class: "usa-alert__heading" }, "You cannot renew your passport online"),
              h("p", { class: "usa-alert__text" }, "These answers do not allow a renewal by mail:"),
              h("ul", { class: "usa-list" }, problem.reasons.map((r) => h("li", {}, r.message || r.code))),
              h("p", { class: "usa-alert__text" }, "Check your answers, or apply in person for a new passport."))),
        );
        summary.firstChild.focus();
      } else if (error.fieldErrors.length) {
        showErrors(form, error.fieldErrors.map((e) => ({ field: e.field, message: reasonText(e) })), error.sentence);
      } else {
        showErrors(form, [{ field: "", message: error.sentence }], "Your renewal was not submitted");
      }
    } finally {
      button.disabled = false;
    }
  });
  return () => {};
}

function stepIndicator(status) {
  const reached = new Set(["submitted"]);
  if (status === "paid" || status === "ready_for_review") reached.add("paid");
  if (status === "photo_received" || status === "ready_for_review") reached.add("photo_received");
  if (status === "ready_for_review") reached.add("ready_for_review");
  return h(
    "div",
    { class: "usa-step-indicator usa-step-indicator--counters-sm", "aria-label": "Renewal progress" },
    h("ol", { class: "usa-step-indicator__segments" },
      STEPS.map(([key, label]) => h("li", {
        class: `usa-step-indicator__segment${reached.has(key) ? " usa-step-indicator__segment--complete" : ""}`,
      }, h("span", { class: "usa-step-indicator__segment-label" }, label,
        h("span", { class: "usa-sr-only" }, reached.has(key) ? " completed" : " not completed"))))),
  );
}

/** `#/renewals/{id}`: the renewal, its fee and photo panels, its status followed without a reload. */
export function renderOne(view, ctx, id) {
  let timer = null;
  let stopped = false;
  let lastStatus = null;
  const title = h("h1", { id: "page-title", tabindex: "-1" }, "Your passport renewal");
  const statusBox = h("div", { class: "portal-panel", "aria-labelledby": "status-heading", role: "region" });
  const feeSlot = h("div", { class: "portal-panel", role: "region", "aria-labelledby": "fee-heading" });
  const photoSlot = h("div", { class: "portal-panel", role: "region", "aria-labelledby": "photo-heading" });
  const errorSlot = h("div");
  view.replaceChildren(title, errorSlot, statusBox, feeSlot, photoSlot);
  statusBox.append(h("p", {}, "Loading your renewal…"));

  function draw(renewal) {
    const live = h("p", { class: "portal-status", id: "renewal-status", "data-status": renewal.status }, STATUS_TEXT[renewal.status] || renewal.status);
    statusBox.replaceChildren(
      h("h2", { id: "status-heading" }, "Status"),
      live,
      stepIndicator(renewal.status),
      h("dl", { class: "portal-field-pair" },
        h("div", {}, h("dt", {}, "Reference"), h("dd", {}, renewal.id)),
        h("div", {}, h("dt", {}, "Name"), h("dd", {}, renewal.full_name)),
        h("div", {}, h("dt", {}, "Passport"), h("dd", {}, renewal.passport_number)),
        h("div", {}, h("dt", {}, "Fee"), h("dd", {}, money(renewal.fee.amount, renewal.fee.currency))),
        h("div", {}, h("dt", {}, "Submitted"), h("dd", {}, when(renewal.submitted_at)))),
    );
    if (lastStatus !== null && lastStatus !== renewal.status) announce(`Renewal status: ${STATUS_TEXT[renewal.status]}`);
    lastStatus = renewal.status;
    ctx.slots.fee(feeSlot, renewal);
    ctx.slots.photo(photoSlot, renewal);
  }

  async function poll() {
    if (stopped) return;
    try {
      const renewal = await ctx.client.get(`${PREFIX}/${encodeURIComponent(id)}`);
      errorSlot.replaceChildren();
      ctx.remember(renewal);
      draw(renewal);
      if (renewal.status === "ready_for_review") return; // the end of what a citizen follows here
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      errorSlot.replaceChildren(alertBox("error", "We could not update the status", error.sentence));
      if (!error.retryable) return;
    }
    if (!stopped) timer = setTimeout(poll, POLL_MS);
  }
  poll();
  ctx.onRefresh(() => { if (!stopped && timer !== null && lastStatus !== "ready_for_review") { clearTimeout(timer); poll(); } });
  return () => { stopped = true; clearTimeout(timer); };
}

/** `#/renewals`: the citizen's renewals, newest first. */
export function renderList(view, ctx) {
  view.replaceChildren(
    h("h1", { id: "page-title", tabindex: "-1" }, "Your passport renewals"),
    h("p", {}, h("a", { class: "usa-button", href: "#/renew" }, "Start a renewal")),
  );
  const body = h("div", {}, h("p", {}, "Loading your renewals…"));
  view.append(body);
  ctx.client.get(PREFIX).then((page) => {
    page.items.forEach((r) => ctx.remember(r));
    if (!page.items.length) {
      body.replaceChildren(h("p", {}, "You have no renewals yet."));
      return;
    }
    body.replaceChildren(
      h("table", { class: "usa-table usa-table--borderless" },
        h("caption", {}, "Your renewals, newest first"),
        h("thead", {}, h("tr", {}, ["Reference", "Status", "Submitted"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, page.items.map((r) => h("tr", {},
          h("th", { scope: "row" }, h("a", { href: `#/renewals/${r.id}` }, r.id)),
          h("td", {}, STATUS_TEXT[r.status] || r.status),
          h("td", {}, when(r.submitted_at)))))),
    );
  }).catch((error) => {
    if (!(error instanceof ApiError)) throw error;
    body.replaceChildren(alertBox("error", "We could not load your renewals", error.sentence));
  });
  return () => {};
}
