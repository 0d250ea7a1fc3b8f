// Sign-in with the authorization code flow and PKCE (S256). Tokens live in this module's memory only:
// never in localStorage or sessionStorage, gone on reload and on sign-out. Only the short-lived PKCE
// verifier, state and nonce wait in sessionStorage while the browser visits the sign-in page.

const PENDING = "hms.signin";

function b64url(bytes) {
  let text = "";
  for (const b of new Uint8Array(bytes)) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function random(n = 32) {
  return b64url(crypto.getRandomValues(new Uint8Array(n)));
}

function decodePayload(jwt) {
  try {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(
      Array.from(atob(part), (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`).join(""),
    );
    return JSON.parse(json);
  } catch {
    return {};
  }
}

export class SignInError extends Error {}

export class Session {
  #tokens = null;
  #listeners = new Set();

  constructor(config) {
    this.config = config;
  }

  onChange(listener) {
    this.#listeners.add(listener);
  }

  #emit(reason) {
    for (const listener of this.#listeners) listener(reason);
  }

  get signedIn() {
    return this.#tokens !== null && Date.now() < this.#tokens.expiresAt;
  }

  accessToken() {
    return this.signedIn ? this.#tokens.access : null;
  }

  /** Who is signed in, for display only (the windows read identity from the verified token). */
  get person() {
    if (!this.#tokens) return null;
    const claims = this.#tokens.id || {};
    return { sub: claims.sub, name: claims.name || claims.sub, email: claims.email };
  }

  async signIn() {
    const verifier = random(48);
    const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
    const state = random(16);
    const nonce = random(16);
    sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, nonce }));
    const url = new URL(this.config.authorization_endpoint);
    url.search = new URLSearchParams({
      response_type: "code",
      client_id: this.config.client_id,
      redirect_uri: this.config.redirect_uri,
      scope: this.config.scopes.join(" "),
      state,
      nonce,
      code_challenge: challenge,
      code_challenge_method: "S256",
    }).toString();
    window.location.assign(url.toString());
  }

  /** Finishes a sign-in when the page was opened by the provider's redirect; false when it was not. */
  async completeSignIn() {
    const params = new URLSearchParams(window.location.search);
    if (!params.has("code") && !params.has("error")) return false;
    const pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
    sessionStorage.removeItem(PENDING);
    window.history.replaceState(null, "", `${window.location.pathname}#/renewals`);
    if (params.has("error")) {
      if (params.get("error") === "access_denied") throw new SignInError("You chose not to sign in.");
      throw new SignInError("Sign-in did not work. Try again.");
    }
    if (!pending || params.get("state") !== pending.state) {
      throw new SignInError("This sign-in was not started from this page, so it was stopped. Sign in again.");
    }
    const iss = params.get("iss");
    if (iss && this.config.issuer && iss !== this.config.issuer) {
      throw new SignInError("The sign-in answer came from an unexpected provider, so it was stopped.");
    }
    let response;
    try {
      response = await fetch(this.config.token_endpoint, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "authorization_code",
          code: params.get("code"),
          redirect_uri: this.config.redirect_uri,
          client_id: this.config.client_id,
          code_verifier: pending.verifier,
        }),
      });
    } catch {
      throw new SignInError("We could not reach the sign-in service. Check your connection and sign in again.");
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok || !body.access_token) {
      throw new SignInError("Sign-in could not be completed. It may have taken too long; sign in again.");
    }
    const id = body.id_token ? decodePayload(body.id_token) : {};
    if (body.id_token && id.nonce !== pending.nonce) {
      throw new SignInError("The sign-in answer did not match this sign-in, so it was stopped. Sign in again.");
    }
    const access = decodePayload(body.access_token);
    this.#tokens = {
      access: body.access_token,
      id: { sub: id.sub || access.sub, name: id.name || access.name, email: id.email || access.email },
      scopes: (body.scope || "").split(" "),
      expiresAt: Date.now() + (Number(body.expires_in) || 3600) * 1000 - 10_000,
    };
    this.#emit("signed-in");
    return true;
  }

  signOut() {
    this.#tokens = null;
    sessionStorage.removeItem(PENDING);
    this.#emit("signed-out");
  }

  expired() {
    if (this.#tokens === null) return;
    this.#tokens = null;
    this.#emit("expired");
  }
}
