// The documents window's module (/api/v1/docs only): the renewal photo and the citizen's documents.
import { ApiError } from "../http.js";
import { h, alertBox, announce, newKey, when } from "../ui.js";

export const PREFIX = "/api/v1/docs";
export const INLINE_MAX = 4 * 1024 * 1024; // through the API (the window takes 5 MiB); larger: presigned
const MIN_SIDE = 600;
const MAX_SIDE = 1200;

/** Whether `file` is a photo the renewal accepts: a sentence saying why not, or null. */
export async function photoProblem(file) {
  const head = new Uint8Array(await file.slice(0, 3).arrayBuffer());
  if (head.length < 3 || head[0] !== 0xff || head[1] !== 0xd8 || head[2] !== 0xff) {
    return "The photo must be a JPEG file (.jpg or .jpeg). This file is not a JPEG.";
  }
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    return "We could not read this photo. Choose another JPEG file.";
  }
  const { width, height } = bitmap;
  bitmap.close();
  if (width !== height) return `The photo must be square. This one is ${width} × ${height} pixels.`;
  if (width < MIN_SIDE || width > MAX_SIDE) {
    return `The photo must be between ${MIN_SIDE} × ${MIN_SIDE} and ${MAX_SIDE} × ${MAX_SIDE} pixels. This one is ${width} × ${height}.`;
  }
  return null;
}

async function uploadInline(ctx, file, renewalId, key) {
  const form = new FormData();
  form.append("kind", "photo");
  form.append("renewal_id", renewalId);
  form.append("file", file, file.name || "photo.jpg");
  return ctx.client.post(PREFIX, { form, idempotencyKey: key });
}

async function uploadPresigned(ctx, file, renewalId, key) {
  const started = await ctx.client.post(`${PREFIX}/uploads`, {
    json: { content_type: "image/jpeg", size: file.size, filename: file.name || "photo.jpg", kind: "photo", renewal_id: renewalId },
    idempotencyKey: key,
  });
  const form = new FormData();
  for (const [name, value] of Object.entries(started.upload.fields)) form.append(name, value);
  form.append("file", file);
  let response;
  try {
    response = await fetch(started.upload.url, { method: "POST", body: form });
  } catch {
    throw new ApiError({ status: 0, sentence: "We could not reach the document store. Your photo is still selected: try again." });
  }
  if (!response.ok) {
    throw new ApiError({ status: response.status, sentence: "The document store did not accept the photo. Try again in a moment." });
  }
  return ctx.client.post(`${PREFIX}/uploads/${encodeURIComponent(started.id)}/complete`);
}

/** The photo panel inside a renewal's page; `update(renewal)` on every status poll. */
export function photoPanel(el, ctx) {
  let current = null;
  let uploaded = null;
  let key = null;
  let busy = false;
  const message = h("div");
  const input = h("input", { class: "usa-file-input", id: "photo", name: "photo", type: "file", accept: "image/jpeg", "aria-describedby": "photo-rules" });
  const button = h("button", { class: "usa-button", type: "submit", id: "upload-photo" }, "Upload photo");
  const form = h("form", { class: "usa-form", novalidate: true },
    h("div", { class: "usa-form-group" },
      h("label", { class: "usa-label", for: "photo" }, "Your photo"),
      input),
    message,
    button);
  input.addEventListener("change", () => { key = null; message.replaceChildren(); });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (busy || !current) return;
    const file = input.files && input.files[0];
    if (!file) {
      message.replaceChildren(alertBox("error", null, "Choose a photo to upload first."));
      input.focus();
      return;
    }
    const problem = await photoProblem(file);
    if (problem) {
      message.replaceChildren(alertBox("error", "This photo cannot be used", problem));
      input.focus();
      return;
    }
    busy = true;
    button.setAttribute("aria-disabled", "true");
    key ??= newKey();
    message.replaceChildren(h("p", { role: "status" }, "Uploading your photo…"));
    try {
      uploaded = file.size <= INLINE_MAX
        ? await uploadInline(ctx, file, current.id, key)
        : await uploadPresigned(ctx, file, current.id, key);
      key = null;
      ctx.rememberDocument(uploaded.id);
      announce("Your photo was uploaded.");
      draw();
      ctx.refresh();
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      if (!error.retryable) key = null;
      message.replaceChildren(alertBox("error", "Your photo was not uploaded", error.sentence));
    } finally {
      busy = false;
      button.removeAttribute("aria-disabled");
    }
  });

  function draw() {
    if (current.photo_document_id || uploaded) {
      el.replaceChildren(h("h2", {}, "Photo"),
        alertBox("success", null, `Photo received.${current.photo_document_id ? "" : " The renewal will show it in a moment."}`));
      return;
    }
    el.replaceChildren(
      h("h2", {}, "Photo"),
      h("div", { id: "photo-rules" },
        h("p", {}, "Before you upload, check that your photo is:"),
        h("ul", { class: "usa-list" },
          h("li", {}, "a JPEG file (.jpg or .jpeg)"),
          h("li", {}, "square: as wide as it is tall"),
          h("li", {}, "between 600 × 600 and 1200 × 1200 pixels"))),
      form,
    );
  }

  return {
    update(renewal) {
      const before = current && (current.photo_document_id || null);
      current = renewal;
      if (renewal.photo_document_id) ctx.rememberDocument(renewal.photo_document_id);
      if (!el.firstChild || before !== (renewal.photo_document_id || null)) draw();
    },
  };
}

const KIND = { photo: "Photo", proof_of_identity: "Proof of identity", other: "Other" };
const STATUS = { available: "Received", pending: "Upload not finished", rejected: "Rejected" };

/** `#/documents`: the documents this portal knows of (the renewals' photos, this visit's uploads). */
export function renderList(view, ctx) {
  view.replaceChildren(h("h1", { id: "page-title", tabindex: "-1" }, "Your documents"));
  const body = h("div", {}, h("p", {}, "Loading your documents…"));
  view.append(body);
  const ids = ctx.knownDocuments();
  if (!ids.length) {
    body.replaceChildren(h("p", {}, "You have no documents yet. Your renewal photo will appear here once uploaded."));
    return () => {};
  }
  Promise.allSettled(ids.map((id) => ctx.client.get(`${PREFIX}/${encodeURIComponent(id)}`))).then((results) => {
    const docs = results.filter((r) => r.status === "fulfilled").map((r) => r.value);
    const failed = results.find((r) => r.status === "rejected" && r.reason instanceof ApiError);
    body.replaceChildren(
      failed ? alertBox("warning", "Some documents could not be loaded", failed.reason.sentence) : "",
      docs.length
        ? h("table", { class: "usa-table usa-table--borderless", id: "documents" },
          h("caption", {}, "Your documents"),
          h("thead", {}, h("tr", {}, ["File", "Kind", "Size", "Status", "Received"].map((c) => h("th", { scope: "col" }, c)))),
          h("tbody", {}, docs.map((d) => h("tr", {},
            h("th", { scope: "row" }, d.filename),
            h("td", {}, KIND[d.kind] || d.kind),
            h("td", {}, `${Math.max(1, Math.round(d.size / 1024))} KB`),
            h("td", {}, STATUS[d.status] || d.status),
            h("td", {}, when(d.created_at))))))
        : "",
    );
  });
  return () => {};
}
