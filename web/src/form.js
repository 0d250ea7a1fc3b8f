// USWDS form fields with an error slot each, an error summary, and field errors from problem+json.
import { h } from "./ui.js";

const idOf = (name) => `f-${name.replace(/\./g, "-")}`;

export function textField(name, label, { hint, optional = false, type = "text", autocomplete, inputmode, value = "", width } = {}) {
  const id = idOf(name);
  const hintEl = hint ? h("div", { class: "usa-hint", id: `${id}-hint` }, hint) : null;
  const input = h("input", {
    class: `usa-input${width ? ` usa-input--${width}` : ""}`,
    id,
    name,
    type,
    autocomplete,
    inputmode,
    "aria-describedby": hint ? `${id}-hint` : undefined,
    "aria-required": optional ? undefined : "true",
  });
  input.value = value;
  return h(
    "div",
    { class: "usa-form-group", "data-field": name },
    h("label", { class: "usa-label", for: id }, label, optional ? h("span", { class: "usa-hint" }, " (optional)") : null),
    hintEl,
    h("span", { class: "usa-error-message", id: `${id}-error`, hidden: true }),
    input,
  );
}

export function checkbox(name, label) {
  const id = idOf(name);
  return h(
    "div",
    { class: "usa-checkbox", "data-field": name },
    h("input", { class: "usa-checkbox__input", id, name, type: "checkbox" }),
    h("label", { class: "usa-checkbox__label", for: id }, label),
  );
}

export function fieldset(legend, ...fields) {
  return h("fieldset", { class: "usa-fieldset" }, h("legend", { class: "usa-legend usa-legend--large" }, legend), ...fields);
}

export function value(form, name) {
  const el = form.querySelector(`#${idOf(name)}`);
  if (!el) return undefined;
  return el.type === "checkbox" ? el.checked : el.value.trim();
}

export function clearErrors(form) {
  for (const group of form.querySelectorAll(".usa-form-group--error")) {
    group.classList.remove("usa-form-group--error");
    const input = group.querySelector("input, select, textarea");
    const error = group.querySelector(".usa-error-message");
    error.hidden = true;
    error.textContent = "";
    input.classList.remove("usa-input--error");
    input.removeAttribute("aria-invalid");
    input.setAttribute("aria-describedby", input.getAttribute("aria-describedby").replace(/\s*\S+-error$/, "").trim());
    if (!input.getAttribute("aria-describedby")) input.removeAttribute("aria-describedby");
  }
  const summary = form.querySelector(".portal-error-summary");
  if (summary) summary.replaceChildren();
}

/**
 * Shows each error beside its field and all of them in a summary that takes focus.
 * `errors`: [{field, message}]; a field the form does not have is listed in the summary only.
 */
export function showErrors(form, errors, heading = "Check these answers") {
  clearErrors(form);
  const summary = form.querySelector(".portal-error-summary");
  const items = [];
  for (const { field, message } of errors) {
    const group = form.querySelector(`[data-field="${CSS.escape(field)}"]`);
    const input = group?.querySelector("input, select, textarea");
    if (group && group.classList.contains("usa-form-group")) {
      group.classList.add("usa-form-group--error");
      const slot = group.querySelector(".usa-error-message");
      slot.textContent = message;
      slot.hidden = false;
      input.classList.add("usa-input--error");
      input.setAttribute("aria-invalid", "true");
      const described = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
      input.setAttribute("aria-describedby", [...described, slot.id].join(" "));
    }
    const label = group?.querySelector("label")?.firstChild?.textContent;
    const text = label ? `${label}: ${message}` : message;
    items.push(h("li", { class: "usa-error-summary__item" }, input ? h("a", { href: `#${input.id}`, onclick: (e) => { e.preventDefault(); input.focus(); } }, text) : text));
  }
  if (summary) {
    summary.replaceChildren(
      h("div", { class: "usa-alert usa-alert--error", role: "alert", tabindex: "-1" },
        h("div", { class: "usa-alert__body" },
          h("h2", { class: "usa-alert__heading" }, heading),
          h("ul", { class: "usa-list" }, items))),
    );
    summary.firstChild.focus();
  }
}
