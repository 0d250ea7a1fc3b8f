// The shell: sign-in, navigation, and one module per window, each given a client for its own routes.
import { Session, SignInError } from "./auth.js";
import { windowClient } from "./http.js";
import { h, alertBox } from "./ui.js";
import * as passport from "./windows/passport.js";
import * as payments from "./windows/payments.js";
import * as documents from "./windows/documents.js";
import * as notifications from "./windows/notifications.js";

const APP = "HMS citizen portal";
const NAV = [
  ["#/renewals", "Renewals"],
  ["#/payments", "Payments"],
  ["#/documents", "Documents"],
  ["#/notifications", "Notifications"],
];

const view = document.getElementById("view");
const nav = document.getElementById("nav");
const account = document.getElementById("account");
let teardown = () => {};
let firstRender = true;
let notice = null; // an alert shown once on the next page
const knownDocs = new Set();
let refreshers = [];

function navigate(hash) {
  if (window.location.hash === hash) render();
  else window.location.hash = hash;
}

function contextFor(mod, session) {
  return {
    session,
    client: windowClient(mod.PREFIX, session),
    navigate,
    remember: (renewal) => { if (renewal.photo_document_id) knownDocs.add(renewal.photo_document_id); },
    rememberDocument: (id) => knownDocs.add(id),
    knownDocuments: () => [...knownDocs],
    refresh: () => refreshers.forEach((fn) => fn()),
    onRefresh: (fn) => refreshers.push(fn),
  };
}

function drawChrome(session, route) {
  if (!session.signedIn) {
    nav.hidden = true;
    nav.replaceChildren();
    account.replaceChildren();
    return;
  }
  nav.hidden = false;
  nav.replaceChildren(h("ul", {}, NAV.map(([href, label]) => h("li", {},
    h("a", { class: "usa-button usa-button--outline", href, "aria-current": route.startsWith(href) ? "page" : undefined }, label)))));
  const person = session.person;
  account.replaceChildren(
    h("span", {}, "Signed in as ", h("strong", {}, person?.name || "citizen")),
    h("button", { class: "usa-button usa-button--secondary", type: "button", id: "sign-out", onclick: () => session.signOut() }, "Sign out"),
  );
}

function home(session, signedOut) {
  view.replaceChildren(
    h("h1", { id: "page-title", tabindex: "-1" }, signedOut ? "You are signed out" : "Renew your passport online"),
    notice ? notice : "",
    signedOut
      ? h("p", { class: "usa-intro" }, "Your session in this page was cleared. Sign in again to continue.")
      : h("p", { class: "usa-intro" }, "Renew a passport, pay the fee, upload your photo and follow your application, all in one place."),
    h("ul", { class: "usa-list" },
      h("li", {}, "You need your current passport at hand."),
      h("li", {}, "You pay the renewal fee online."),
      h("li", {}, "You upload a square JPEG photo, 600 × 600 to 1200 × 1200 pixels.")),
    h("button", { class: "usa-button usa-button--big", type: "button", id: "sign-in", onclick: () => session.signIn() }, "Sign in to start"),
  );
  notice = null;
}

function render(session) {
  teardown();
  teardown = () => {};
  refreshers = [];
  const route = window.location.hash || "#/";
  drawChrome(session, route);
  const signedOut = route === "#/signed-out";
  if (!session.signedIn || route === "#/" || signedOut) {
    if (session.signedIn && route === "#/") return navigate("#/renewals");
    home(session, signedOut);
  } else {
    const [, first, second] = route.split("/");
    const p = contextFor(passport, session);
    if (first === "renewals" && second) {
      p.slots = slots(session, p);
      teardown = passport.renderOne(view, p, decodeURIComponent(second));
    } else if (first === "renewals") teardown = passport.renderList(view, p);
    else if (first === "renew") teardown = passport.renderNew(view, p);
    else if (first === "payments") teardown = payments.renderList(view, contextFor(payments, session));
    else if (first === "documents") teardown = documents.renderList(view, contextFor(documents, session));
    else if (first === "notifications") teardown = notifications.renderList(view, contextFor(notifications, session));
    else {
      view.replaceChildren(h("h1", { id: "page-title", tabindex: "-1" }, "Page not found"),
        h("p", {}, "There is no page at this address. ", h("a", { href: "#/renewals" }, "Go to your renewals"), "."));
    }
    if (notice) { view.prepend(notice); notice = null; }
  }
  const title = document.getElementById("page-title");
  document.title = title ? `${title.textContent} · ${APP}` : APP;
  if (!firstRender && title) title.focus();
  firstRender = false;
}

/** The fee and photo panels of a renewal's page come from the payments and documents modules. */
function slots(session, passportCtx) {
  const pay = contextFor(payments, session);
  const docs = contextFor(documents, session);
  pay.refresh = docs.refresh = passportCtx.refresh;
  let fee = null;
  let photo = null;
  return {
    fee(el, renewal) { (fee ??= payments.feePanel(el, pay)).update(renewal); },
    photo(el, renewal) { (photo ??= documents.photoPanel(el, docs)).update(renewal); },
  };
}

async function main() {
  let config;
  try {
    const response = await fetch("/portal-config.json", { headers: { accept: "application/json" } });
    if (!response.ok) throw new Error(String(response.status));
    config = await response.json();
  } catch {
    view.replaceChildren(h("h1", { id: "page-title" }, APP),
      alertBox("error", "The portal could not start", "We could not load its settings. Reload the page in a moment."));
    return;
  }
  const session = new Session(config);
  const again = () => render(session);
  session.onChange((reason) => {
    knownDocs.clear();
    if (reason === "signed-out") navigate("#/signed-out");
    else if (reason === "expired") {
      notice = alertBox("warning", "Your sign-in has ended", "For your security you were signed out. Sign in again to continue.");
      navigate("#/");
    }
  });
  window.addEventListener("hashchange", () => {
    if (window.location.hash === "" || window.location.hash.startsWith("#/")) again();
  });
  for (const id of ["skipnav", "to-top"]) {
    document.getElementById(id)?.addEventListener("click", (event) => {
      event.preventDefault();
      (id === "skipnav" ? document.getElementById("main-content") : document.body).focus?.();
      if (id === "to-top") { window.scrollTo(0, 0); document.getElementById("main-content").focus(); }
    });
  }
  try {
    await session.completeSignIn();
  } catch (error) {
    if (!(error instanceof SignInError)) throw error;
    notice = alertBox("error", "You are not signed in", error.message);
    window.history.replaceState(null, "", `${window.location.pathname}#/`);
  }
  again();
  performance.mark("portal-ready");
  document.body.dataset.ready = "true";
}

main();
