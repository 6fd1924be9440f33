// The edge-api page: sign in with a passkey, an e-mail link or a password, then manage notes,
// passkeys and sessions through the JSON API on this same origin.
//
// No framework and nothing from elsewhere: the page's CSP allows scripts, styles and requests
// to this origin only. User data reaches the DOM as text (textContent, text nodes, attribute
// values), never as HTML. <html data-state="..."> says which screen is up (tests wait on it).

const $ = (id) => document.getElementById(id);
const NOTES_PAGE = 10;

/* ------------------------------------------------------------------ the API */

/** An error answer of the API: its status, stable code, message for people, and details. */
class ApiError extends Error {
  constructor(status, code, message, details = []) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/**
 * Calls the API on this origin; the session cookie goes along by itself. A `body` is sent as
 * JSON. Resolves to {status, headers, data}; an error answer rejects with an ApiError built
 * from the structured error (`{"error": {"code", "message", "details"}}`).
 */
async function api(method, path, { body, headers = {} } = {}) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json", ...headers } };
  if (body !== undefined) {
    init.headers["Content-Type"] ??= "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, "NETWORK", "Could not reach the server. Check your connection and try again.");
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON: treated as no body.
  }
  if (!response.ok) {
    const e = data?.error ?? {};
    throw new ApiError(
      response.status,
      e.code ?? `HTTP_${response.status}`,
      e.message ?? `The server answered ${response.status}.`,
      e.details ?? [],
    );
  }
  return { status: response.status, headers: response.headers, data };
}

/* ------------------------------------------------------------------ DOM helpers */

/** Builds an element: h("li", {class: "x", dataset: {id}}, "text", child). Strings become text. */
function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children.flat().filter((c) => c != null && c !== false));
  return node;
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** A <time> element for Unix milliseconds. */
function time(ms) {
  const date = new Date(ms);
  return h("time", { datetime: date.toISOString() }, dateFormat.format(date));
}

/** Turns an error into a sentence for people. */
function describe(err) {
  if (err instanceof ApiError) {
    const fields = err.details
      .filter((d) => d && d.field)
      .map((d) => `${d.field}: ${String(d.issue ?? "").replaceAll("_", " ")}`);
    return fields.length ? `${err.message} (${fields.join("; ")})` : err.message;
  }
  if (err instanceof DOMException) {
    switch (err.name) {
      case "NotAllowedError":
      case "AbortError":
        return "The passkey request was cancelled or timed out.";
      case "InvalidStateError":
        return "This device already has a passkey for this account.";
      case "SecurityError":
        return "Passkeys cannot be used on this address.";
      case "NotSupportedError":
        return "This device cannot create a passkey of the kind this site asks for.";
    }
  }
  return err?.message || "Something went wrong.";
}

function clearNotices() {
  for (const id of ["error", "message"]) {
    $(id).hidden = true;
    $(id).textContent = "";
  }
}

function showError(err) {
  $("error").textContent = describe(err);
  $("error").hidden = false;
  // The notice sits at the top of the page, and the failed action may be far below it.
  $("error").scrollIntoView({ block: "nearest" });
  // Anything that is not an answer of the API or of the authenticator is a bug in this page.
  if (!(err instanceof ApiError || err instanceof DOMException)) console.error(err);
}

function say(message) {
  $("message").textContent = message;
  $("message").hidden = false;
  $("message").scrollIntoView({ block: "nearest" });
}

/**
 * Runs an action for `button`: the button is disabled meanwhile, earlier notices are cleared,
 * and a failure is shown. A 401 while signed in means the session ended: back to sign-in.
 */
async function run(button, action) {
  clearNotices();
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    await action();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401 && state.user) {
      showSignedOut();
    }
    showError(err);
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

/**
 * A destructive button that asks once more before it acts ("Delete" → "Confirm delete"). Its
 * accessible name is the visible label and what it acts on (`subject`), in both states.
 */
function confirmButton(label, confirmLabel, subject, action, props = {}) {
  let timer;
  const button = h("button", { type: "button", class: "danger", "aria-label": `${label} ${subject}`, ...props }, label);
  const reset = () => {
    clearTimeout(timer);
    delete button.dataset.confirm;
    button.textContent = label;
    button.setAttribute("aria-label", `${label} ${subject}`);
  };
  button.addEventListener("click", () => {
    if (button.dataset.confirm !== "true") {
      button.dataset.confirm = "true";
      button.textContent = confirmLabel;
      button.setAttribute("aria-label", `${confirmLabel} ${subject}`);
      timer = setTimeout(reset, 5000);
      return;
    }
    reset();
    run(button, action);
  });
  button.addEventListener("blur", reset);
  return button;
}

/** Reads a form's fields by name, trimmed except for passwords (a space may be part of one). */
function fields(form) {
  return Object.fromEntries([...new FormData(form)].map(([k, v]) => {
    const secret = form.elements[k]?.type === "password";
    return [k, secret ? String(v) : String(v).trim()];
  }));
}

/* ------------------------------------------------------------------ WebAuthn */

const base64url = {
  decode(text) {
    const padded = text.replaceAll("-", "+").replaceAll("_", "/") + "===".slice((text.length + 3) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)).buffer;
  },
  encode(buffer) {
    let binary = "";
    for (const byte of new Uint8Array(buffer)) binary += String.fromCharCode(byte);
    return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  },
};

const withIds = (list) => (list ?? []).map((c) => ({ ...c, id: base64url.decode(c.id) }));

/** PublicKeyCredentialCreationOptionsJSON → options (the browser's parser when it has one). */
function creationOptions(json) {
  if (PublicKeyCredential.parseCreationOptionsFromJSON) {
    return PublicKeyCredential.parseCreationOptionsFromJSON(json);
  }
  return {
    ...json,
    challenge: base64url.decode(json.challenge),
    user: { ...json.user, id: base64url.decode(json.user.id) },
    excludeCredentials: withIds(json.excludeCredentials),
  };
}

/** PublicKeyCredentialRequestOptionsJSON → options. */
function requestOptions(json) {
  if (PublicKeyCredential.parseRequestOptionsFromJSON) {
    return PublicKeyCredential.parseRequestOptionsFromJSON(json);
  }
  return { ...json, challenge: base64url.decode(json.challenge), allowCredentials: withIds(json.allowCredentials) };
}

/** A credential as RegistrationResponseJSON / AuthenticationResponseJSON. */
function credentialJSON(credential) {
  if (typeof credential.toJSON === "function") return credential.toJSON();
  const r = credential.response;
  const response = { clientDataJSON: base64url.encode(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = base64url.encode(r.attestationObject);
    response.transports = r.getTransports?.() ?? [];
    if (r.getAuthenticatorData) response.authenticatorData = base64url.encode(r.getAuthenticatorData());
    const key = r.getPublicKey?.();
    if (key) response.publicKey = base64url.encode(key);
    if (r.getPublicKeyAlgorithm) response.publicKeyAlgorithm = r.getPublicKeyAlgorithm();
  } else {
    response.authenticatorData = base64url.encode(r.authenticatorData);
    response.signature = base64url.encode(r.signature);
    if (r.userHandle) response.userHandle = base64url.encode(r.userHandle);
  }
  return {
    id: credential.id,
    rawId: base64url.encode(credential.rawId),
    type: credential.type,
    authenticatorAttachment: credential.authenticatorAttachment ?? undefined,
    clientExtensionResults: credential.getClientExtensionResults(),
    response,
  };
}

function requirePasskeys() {
  if (!window.PublicKeyCredential || !navigator.credentials) {
    throw new Error("This browser does not support passkeys. Use an e-mail link instead.");
  }
}

/** Registers a passkey (sign-up when `email` is given, else for the signed-in account). */
async function registerPasskey(request, name) {
  requirePasskeys();
  const { data } = await api("POST", "/v1/auth/passkeys/register/options", { body: request });
  const credential = await navigator.credentials.create({ publicKey: creationOptions(data.publicKey) });
  const body = credentialJSON(credential);
  if (name) body.name = name;
  return (await api("POST", "/v1/auth/passkeys/register/verify", { body })).data;
}

/** Signs in with a passkey; without an e-mail the authenticator offers its own (discoverable). */
async function authenticateWithPasskey(email) {
  requirePasskeys();
  const { data } = await api("POST", "/v1/auth/passkeys/login/options", { body: email ? { email } : {} });
  const credential = await navigator.credentials.get({ publicKey: requestOptions(data.publicKey) });
  return (await api("POST", "/v1/auth/passkeys/login/verify", { body: credentialJSON(credential) })).data;
}

/* ------------------------------------------------------------------ screens */

const state = { user: null, notesCursor: null, linkToken: null };
/** Settles once the ways of signing in on offer are shown (`showMethods`). */
let methodsShown = Promise.resolve();

function setScreen(name) {
  document.documentElement.dataset.state = name;
  $("loading").hidden = true;
  $("signed-out").hidden = name !== "signed-out";
  $("signed-in").hidden = name !== "signed-in";
  $("unavailable").hidden = name !== "unavailable";
  $("who").hidden = name !== "signed-in";
}

function showSignedOut() {
  state.user = null;
  hideLinkConfirm();
  state.notesCursor = null;
  for (const id of ["notes-list", "passkeys-list", "sessions-list"]) $(id).replaceChildren();
  $("who-email").textContent = "";
  setScreen("signed-out");
}

async function showSignedIn(user) {
  state.user = user;
  $("who-email").textContent = user.email;
  $("password-username").value = user.email;
  for (const form of document.querySelectorAll("#signed-out form")) form.reset();
  $("link-sent").hidden = true;
  document.documentElement.dataset.state = "loading";
  const loaded = await Promise.allSettled([loadNotes(), loadPasskeys(), loadSessions()]);
  setScreen("signed-in");
  // A new screen: keyboard and screen-reader users start at its top, and so does the view.
  $("main").focus({ preventScroll: true });
  scrollTo(0, 0);
  const failed = loaded.find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
}

/* ------------------------------------------------------------------ notes */

function parseTags(text) {
  return text.split(/[\s,]+/).filter(Boolean);
}

async function loadNotes({ more = false } = {}) {
  const query = new URLSearchParams({ limit: String(NOTES_PAGE) });
  if (more && state.notesCursor) query.set("cursor", state.notesCursor);
  const { data } = await api("GET", `/v1/notes?${query}`);
  const items = data.items.map(noteItem);
  if (more) $("notes-list").append(...items);
  else $("notes-list").replaceChildren(...items);
  state.notesCursor = data.next_cursor;
  $("notes-more").hidden = !data.next_cursor;
  $("notes-empty").hidden = $("notes-list").children.length > 0;
}

function noteItem(note) {
  const li = h("li", { class: "item note", dataset: { testid: "note", id: note.id } });
  renderNote(li, note);
  return li;
}

function renderNote(li, note) {
  const edited = note.updated_at > note.created_at;
  li.replaceChildren(
    h("div", { class: "item-main" },
      h("h3", { class: "note-title", dataset: { testid: "note-title" } }, note.title),
      note.body ? h("p", { class: "note-body", dataset: { testid: "note-body" } }, note.body) : null,
      note.tags.length ? h("ul", { class: "tags", "aria-label": "Tags" }, note.tags.map((t) => h("li", { class: "tag" }, t))) : null,
      h("p", { class: "meta" }, edited ? "Edited " : "Created ", time(edited ? note.updated_at : note.created_at)),
    ),
    h("div", { class: "actions" },
      h("button", {
        type: "button",
        class: "secondary",
        dataset: { action: "edit" },
        "aria-label": `Edit “${note.title}”`,
        onclick: (e) => run(e.currentTarget, () => editNote(li, note.id)),
      }, "Edit"),
      confirmButton("Delete", "Confirm delete", `“${note.title}”`, () => deleteNote(li, note.id), {
        "data-action": "delete",
      }),
    ),
  );
}

/** Opens the editor on a fresh copy of the note; saving sends its ETag in If-Match. */
async function editNote(li, id) {
  const { data: note, headers } = await api("GET", `/v1/notes/${encodeURIComponent(id)}`);
  const etag = headers.get("ETag");
  const field = (name, label, control) => [h("label", { for: `edit-${name}-${id}` }, label), control];
  const title = h("input", { id: `edit-title-${id}`, name: "title", maxlength: 200, required: true });
  const body = h("textarea", { id: `edit-body-${id}`, name: "body", rows: 4 });
  const tags = h("input", { id: `edit-tags-${id}`, name: "tags", autocomplete: "off" });
  title.value = note.title;
  body.value = note.body;
  tags.value = note.tags.join(", ");
  const save = h("button", { type: "submit", dataset: { action: "save" } }, "Save");
  const form = h("form", { class: "stack edit", novalidate: true, "aria-label": "Edit note" },
    ...field("title", "Title", title),
    ...field("body", "Text", body),
    ...field("tags", "Tags", tags),
    h("div", { class: "row" },
      save,
      h("button", {
        type: "button",
        class: "secondary",
        dataset: { action: "cancel" },
        onclick: () => {
          renderNote(li, note);
          li.querySelector("[data-action=edit]").focus();
        },
      }, "Cancel"),
    ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run(save, async () => {
      const patch = { title: title.value.trim(), body: body.value, tags: parseTags(tags.value) };
      const headers = { "Content-Type": "application/merge-patch+json" };
      if (etag) headers["If-Match"] = etag;
      try {
        const { data: updated } = await api("PATCH", `/v1/notes/${encodeURIComponent(id)}`, { body: patch, headers });
        renderNote(li, updated);
        li.querySelector("[data-action=edit]").focus();
        say("Note saved.");
      } catch (err) {
        if (err instanceof ApiError && err.status === 412) {
          throw new Error("This note was changed elsewhere. Cancel and edit it again to see the latest version.");
        }
        throw err;
      }
    });
  });
  li.replaceChildren(form);
  title.focus();
}

async function deleteNote(li, id) {
  await api("DELETE", `/v1/notes/${encodeURIComponent(id)}`);
  const next = li.nextElementSibling ?? li.previousElementSibling;
  li.remove();
  say("Note deleted.");
  if (!$("notes-list").children.length && state.notesCursor) await loadNotes();
  $("notes-empty").hidden = $("notes-list").children.length > 0;
  (next?.querySelector("[data-action=edit]") ?? $("note-title")).focus();
}

async function createNote(form) {
  const { title, body, tags } = fields(form);
  await api("POST", "/v1/notes", {
    body: { title, body, tags: parseTags(tags) },
    // A retried click creates one note, not two.
    headers: { "Idempotency-Key": crypto.randomUUID() },
  });
  form.reset();
  await loadNotes();
  say("Note added.");
  $("note-title").focus();
}

/* ------------------------------------------------------------------ passkeys */

async function loadPasskeys() {
  let data;
  try {
    ({ data } = await api("GET", "/v1/auth/passkeys"));
  } catch (err) {
    // A server without passkeys: the section goes away.
    if (err instanceof ApiError && err.status === 404) {
      $("passkeys").hidden = true;
      return;
    }
    throw err;
  }
  $("passkeys-list").replaceChildren(...data.items.map(passkeyItem));
  $("passkeys-empty").hidden = data.items.length > 0;
}

function passkeyItem(passkey) {
  const li = h("li", { class: "item passkey", dataset: { testid: "passkey", id: passkey.id } });
  renderPasskey(li, passkey);
  return li;
}

function renderPasskey(li, passkey) {
  const meta = ["Added ", time(passkey.created_at), " · "];
  meta.push(...(passkey.last_used_at ? ["last used ", time(passkey.last_used_at)] : ["never used"]));
  if (passkey.backed_up) meta.push(" · synced");
  li.replaceChildren(
    h("div", { class: "item-main" },
      h("h3", { class: "passkey-name", dataset: { testid: "passkey-name" } }, passkey.name || "Passkey"),
      h("p", { class: "meta" }, ...meta),
    ),
    h("div", { class: "actions" },
      h("button", {
        type: "button",
        class: "secondary",
        dataset: { action: "rename" },
        "aria-label": `Rename passkey “${passkey.name || "Passkey"}”`,
        onclick: () => renamePasskey(li, passkey),
      }, "Rename"),
      confirmButton("Delete", "Confirm delete", `passkey “${passkey.name || "Passkey"}”`, () => deletePasskey(li, passkey.id), {
        "data-action": "delete",
      }),
    ),
  );
}

function renamePasskey(li, passkey) {
  clearNotices();
  const input = h("input", { id: `rename-${passkey.id}`, name: "name", maxlength: 64, required: true });
  input.value = passkey.name ?? "";
  const save = h("button", { type: "submit", dataset: { action: "save" } }, "Save");
  const form = h("form", { class: "row rename", novalidate: true },
    h("label", { for: input.id, class: "visually-hidden" }, "New name"),
    input,
    save,
    h("button", {
      type: "button",
      class: "secondary",
      dataset: { action: "cancel" },
      onclick: () => {
        renderPasskey(li, passkey);
        li.querySelector("[data-action=rename]").focus();
      },
    }, "Cancel"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run(save, async () => {
      const { data } = await api("PATCH", `/v1/auth/passkeys/${encodeURIComponent(passkey.id)}`, {
        body: { name: input.value.trim() },
      });
      renderPasskey(li, data);
      li.querySelector("[data-action=rename]").focus();
      say("Passkey renamed.");
    });
  });
  li.replaceChildren(form);
  input.focus();
  input.select();
}

async function deletePasskey(li, id) {
  await api("DELETE", `/v1/auth/passkeys/${encodeURIComponent(id)}`);
  li.remove();
  $("passkeys-empty").hidden = $("passkeys-list").children.length > 0;
  say("Passkey deleted.");
  $("passkey-add").focus();
}

/* ------------------------------------------------------------------ sessions */

/** "Chrome on Linux" from a User-Agent string. */
function describeAgent(ua) {
  if (!ua) return "Unknown browser";
  const browser = [[/Edg\//, "Edge"], [/Firefox\//, "Firefox"], [/HeadlessChrome\//, "Headless Chrome"],
    [/Chrome\//, "Chrome"], [/Safari\//, "Safari"]].find(([re]) => re.test(ua))?.[1];
  const os = [[/Windows/, "Windows"], [/iPhone|iPad/, "iOS"], [/Mac OS X/, "macOS"], [/Android/, "Android"],
    [/CrOS/, "ChromeOS"], [/Linux/, "Linux"]].find(([re]) => re.test(ua))?.[1];
  if (browser && os) return `${browser} on ${os}`;
  return browser ?? os ?? ua.slice(0, 60);
}

async function loadSessions() {
  const { data } = await api("GET", "/v1/auth/sessions");
  $("sessions-list").replaceChildren(...data.items.map(sessionItem));
}

function sessionItem(session) {
  const agent = describeAgent(session.user_agent);
  const label = session.current ? "Sign out" : "Revoke";
  const li = h("li", { class: "item session", dataset: { testid: "session", id: session.id, current: session.current } },
    h("div", { class: "item-main" },
      h("h3", { title: session.user_agent },
        agent,
        session.current ? h("span", { class: "badge" }, "This browser") : null),
      h("p", { class: "meta" }, "Signed in ", time(session.created_at), " · last active ", time(session.last_seen_at)),
    ),
  );
  const button = h("button", {
    type: "button",
    class: "secondary",
    dataset: { action: "revoke" },
    // Each session's button names its session: "Revoke Chrome on Linux, last active …".
    "aria-label": session.current
      ? `${label} (this browser)`
      : `${label} ${agent}, last active ${dateFormat.format(new Date(session.last_seen_at))}`,
    onclick: () => run(button, async () => {
      await api("DELETE", `/v1/auth/sessions/${encodeURIComponent(session.id)}`);
      if (session.current) {
        showSignedOut();
        say("You are signed out.");
      } else {
        li.remove();
        say("Session revoked.");
      }
    }),
  }, label);
  li.append(h("div", { class: "actions" }, button));
  return li;
}

/* ------------------------------------------------------------------ sign-in flows */

/** Password routes answer 404 (or 403) when the server has turned passwords off. */
function passwordsOff(err) {
  return err instanceof ApiError && (err.status === 404 || (err.status === 403 && err.code !== "CSRF_REJECTED"));
}

/**
 * Sets the password: with the current one, or without it on a session that began with a
 * passkey or an e-mail link minutes ago. Every other session ends; this one goes on.
 */
async function savePassword(form) {
  const { current_password, new_password } = fields(form);
  const body = { new_password };
  if (current_password) body.current_password = current_password;
  try {
    await api("POST", "/v1/auth/password", { body });
  } catch (err) {
    if (passwordsOff(err)) $("password-settings").hidden = true;
    const needsCurrent = err instanceof ApiError
      && err.details.some((d) => d.field === "current_password" && d.issue === "required");
    if (needsCurrent) {
      throw new ApiError(err.status, err.code, "Enter your current password. Without one, sign out and back in with a passkey or an e-mail link, then set it within 5 minutes.");
    }
    throw err;
  }
  form.reset();
  $("password-username").value = state.user.email;
  say("Password saved. Every other session is signed out.");
  await loadSessions();
}

async function passwordSignIn(email, password) {
  const { data } = await api("POST", "/v1/auth/login", { body: { email, password } });
  await showSignedIn(data.user);
}

function wire() {
  $("retry").addEventListener("click", () =>
    run($("retry"), () => {
      const token = state.linkToken;
      state.linkToken = null;
      $("unavailable-link").hidden = true;
      return enter(token);
    }),
  );

  $("link-use").addEventListener("click", () => {
    run($("link-use"), async () => {
      const token = state.linkToken;
      hideLinkConfirm();
      if (!token) return;
      // A link that fails leaves the session as it was.
      const user = await useLink(token);
      if (user) await showSignedIn(user);
    });
  });
  $("link-keep").addEventListener("click", () => {
    hideLinkConfirm();
    clearNotices();
    say(`The link was not used: you are still signed in as ${state.user?.email}.`);
  });

  $("signup-form").addEventListener("submit", (event) => {
    event.preventDefault();
    run($("signup-button"), async () => {
      const { email } = fields(event.currentTarget);
      if (!email) throw new Error("Enter your e-mail address to create an account.");
      const result = await registerPasskey({ email });
      await showSignedIn(result.user ?? (await api("GET", "/v1/auth/me")).data.user);
    });
  });

  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    run($("signin-button"), async () => {
      const { email } = fields(event.currentTarget);
      const result = await authenticateWithPasskey(email);
      await showSignedIn(result.user);
    });
  });

  $("link-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    run($("link-button"), async () => {
      const { email } = fields(form);
      if (!email) throw new Error("Enter your e-mail address to receive a link.");
      await api("POST", "/v1/auth/email-link", { body: { email } });
      $("link-sent").hidden = false;
    });
  });

  const passwordForm = $("password-form");
  const passwordAction = (button, action) => run(button, async () => {
    const { email, password } = fields(passwordForm);
    try {
      await action(email, password);
    } catch (err) {
      // The server's message says so; the form steps aside.
      if (passwordsOff(err)) $("password-panel").hidden = true;
      throw err;
    }
  });
  passwordForm.addEventListener("submit", (event) => {
    event.preventDefault();
    passwordAction($("password-signin"), passwordSignIn);
  });
  $("password-signup").addEventListener("click", () => {
    passwordAction($("password-signup"), async (email, password) => {
      await api("POST", "/v1/auth/signup", { body: { email, password } });
      await passwordSignIn(email, password);
    });
  });

  $("password-change-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    run($("password-save"), () => savePassword(form));
  });

  $("account-actions").append(
    confirmButton("Delete account", "Confirm: delete account", "and everything in it", async () => {
      await api("DELETE", "/v1/auth/me");
      showSignedOut();
      say("Your account was deleted.");
    }, { id: "account-delete" }),
  );

  $("signout").addEventListener("click", (event) => {
    run(event.currentTarget, async () => {
      await api("POST", "/v1/auth/logout");
      showSignedOut();
      say("You are signed out.");
    });
  });

  $("note-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    run($("note-add"), () => createNote(form));
  });
  $("notes-more").addEventListener("click", (event) => run(event.currentTarget, () => loadNotes({ more: true })));

  $("passkey-add-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    run($("passkey-add"), async () => {
      await registerPasskey({}, fields(form).name);
      form.reset();
      await loadPasskeys();
      say("Passkey added.");
    });
  });
}

/** An e-mail link opens the page at #token=…: the token is posted (a GET never signs in). */
function takeLinkToken() {
  if (!location.hash.startsWith("#token=")) return null;
  const token = location.hash.slice("#token=".length);
  // Out of the address bar and the history at once, whatever happens next.
  history.replaceState(null, "", location.pathname + location.search);
  return token;
}

/** The account this browser is signed in to: `{user}`, `{user: null}` when signed out, or
 * `{error}` when the API cannot say. */
async function signedIn() {
  try {
    return { user: (await api("GET", "/v1/auth/me")).data.user };
  } catch (err) {
    // Signed out is the normal answer of /me; anything else is worth saying.
    return err instanceof ApiError && err.status === 401 ? { user: null } : { error: err };
  }
}

/** Spends the link's `token`: the account it signs in to, or null (said why). */
async function useLink(token) {
  try {
    return (await api("POST", "/v1/auth/email-link/verify", { body: { token } })).data.user;
  } catch (err) {
    showError(err);
    return null;
  }
}

/**
 * A link opened where an account is signed in is not spent until the person asks: anyone can
 * send a link to their own account, and following it silently would move this browser into
 * that account (a login CSRF).
 */
function askAboutLink(token, user) {
  state.linkToken = token;
  $("link-confirm-email").textContent = user.email;
  $("link-confirm").hidden = false;
  $("link-confirm").scrollIntoView({ block: "nearest" });
  $("link-keep").focus({ preventScroll: true });
}

function hideLinkConfirm() {
  state.linkToken = null;
  $("link-confirm").hidden = true;
}

/**
 * Shows the screen for who is signed in. With a link's `token` and no session, the account of
 * the link when it is good; with a session, the page asks before it uses the link, and when
 * the API cannot say whether there is one, the link waits for "Try again". A link used
 * before, or expired, is said so, and does not hide the session. When the API cannot say (an
 * outage, a limit, no network), the page says so and offers to try again rather than show the
 * sign-in forms to someone who may still be signed in.
 */
async function enter(token) {
  let user = null;
  let unknown = false;
  let current = state.user ? { user: state.user } : null;
  if (token) {
    current ??= await signedIn();
    if (current.user) {
      if (!state.user) await showSignedIn(current.user).catch(showError);
      askAboutLink(token, current.user);
      return;
    }
    if (current.error) {
      // Nobody can tell whether an account is signed in here, so the link waits as it would
      // for one: "Try again" takes it up once the API answers.
      state.linkToken = token;
      showError(current.error);
      await methodsShown;
      setScreen("unavailable");
      $("unavailable-link").hidden = false;
      return;
    }
    user = await useLink(token);
  }
  if (!user) {
    current ??= await signedIn();
    user = current.user;
    unknown = Boolean(current.error);
    if (unknown) showError(current.error);
  }
  // Asked at the same time as the account: the screen appears with only what is offered.
  await methodsShown;
  if (!user) {
    if (unknown) setScreen("unavailable");
    else showSignedOut();
    return;
  }
  try {
    await showSignedIn(user);
  } catch (err) {
    showError(err);
  }
}

/**
 * Shows only the ways of signing in the server offers (`GET /v1/auth/methods`). Without an
 * answer every way stays, and the first 404 from one hides it.
 */
async function showMethods() {
  let methods;
  try {
    ({ data: methods } = await api("GET", "/v1/auth/methods"));
  } catch {
    return;
  }
  const show = (ids, on) => {
    for (const id of ids) if (!on) $(id).hidden = true;
  };
  show(["signup-form", "signin-form", "passkeys"], methods.passkeys);
  show(["link-form"], methods.email_links);
  show(["password-panel", "password-settings"], methods.passwords);
  // A password as the only way in is not tucked away.
  if (methods.passwords && !methods.passkeys && !methods.email_links) $("password-panel").open = true;
}

function start() {
  wire();
  methodsShown = showMethods();
  // A link opened in a tab that already shows the page only changes the fragment.
  addEventListener("hashchange", () => {
    const token = takeLinkToken();
    if (token) {
      clearNotices();
      enter(token);
    }
  });
  enter(takeLinkToken());
}

start();
