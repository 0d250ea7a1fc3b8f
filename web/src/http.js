// One client per window: it calls only that window's routes, on this origin, with the bearer token,
// and turns every answer that is not a success into an ApiError with a sentence a person can read.

export class ApiError extends Error {
  constructor({ status = 0, problem = {}, sentence, retryAfter = null }) {
    super(sentence);
    this.status = status;
    this.problem = problem;
    this.sentence = sentence;
    this.retryAfter = retryAfter;
  }

  /** Field errors of a 422 problem: [{field, reason}] (the platform's `errors`). */
  get fieldErrors() {
    const errors = this.problem?.errors;
    return Array.isArray(errors) ? errors.filter((e) => e && typeof e.field === "string") : [];
  }

  /** Keep the form's input: the request may be retried as it is. */
  get retryable() {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

const SENTENCES = {
  400: "The service could not read this request.",
  401: "Your sign-in has ended. Sign in again to continue; nothing you typed is sent until you do.",
  403: "You do not have permission to do this. Sign out, then sign in again and approve the permission it needs.",
  404: "We could not find that. It may belong to another account or no longer exist.",
  405: "The service does not accept this action here.",
  409: "This conflicts with what the service already has. Reload the page and try again.",
  413: "That is too large for the service to accept.",
  415: "That type of file is not accepted.",
  422: "Some answers need to be fixed before we can continue.",
  429: "You have made too many requests in a short time. Wait a moment, then try again.",
  500: "The service had a problem. Your answers are kept: try again in a moment.",
  502: "A service we depend on had a problem. Your answers are kept: try again in a moment.",
  503: "The service is not available right now. Your answers are kept: try again in a moment.",
  504: "The service took too long to answer. Your answers are kept: try again in a moment.",
};

/** The sentence for an HTTP status (and its problem), for people rather than programs. */
export function sentenceFor(status, problem = {}) {
  if (status === 429 && problem.retryAfter) {
    return `You have made too many requests in a short time. Wait ${problem.retryAfter} seconds, then try again.`;
  }
  if (SENTENCES[status]) return SENTENCES[status];
  if (status >= 500) return SENTENCES[500];
  return "Something went wrong with this request. Try again, and if it keeps happening, contact us.";
}

export function windowClient(prefix, session) {
  const owns = (path) => path === prefix || path.startsWith(`${prefix}/`) || path.startsWith(`${prefix}?`);

  async function request(method, path, { json, form, headers = {}, idempotencyKey } = {}) {
    if (!owns(path)) throw new Error(`${path} is not a route of ${prefix}`);
    const token = session.accessToken();
    if (!token) throw new ApiError({ status: 401, sentence: SENTENCES[401] });
    const init = { method, headers: { accept: "application/json", authorization: `Bearer ${token}`, ...headers } };
    if (idempotencyKey) init.headers["idempotency-key"] = idempotencyKey;
    if (json !== undefined) {
      init.headers["content-type"] = "application/json";
      init.body = JSON.stringify(json);
    } else if (form !== undefined) {
      init.body = form; // the browser sets multipart/form-data with its boundary
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch {
      throw new ApiError({
        status: 0,
        sentence: "We could not reach the service. Check your connection; your answers are kept, so you can try again.",
      });
    }
    const type = response.headers.get("content-type") || "";
    let body = null;
    if (response.status !== 204) {
      try {
        body = type.includes("json") ? await response.json() : await response.text();
      } catch {
        body = null;
      }
    }
    if (response.ok) return body;
    const problem = body && typeof body === "object" ? body : {};
    const retryAfter = response.headers.get("retry-after");
    if (retryAfter) problem.retryAfter = retryAfter;
    if (response.status === 401) session.expired();
    throw new ApiError({ status: response.status, problem, sentence: sentenceFor(response.status, problem), retryAfter });
  }

  return {
    get: (path) => request("GET", path),
    post: (path, options) => request("POST", path, options),
  };
}
