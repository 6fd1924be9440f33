// The TypeScript peer for `make bench`: the benchmarked endpoints of the Rust template written
// the idiomatic Hono way, with the same bindings and the same work per request — request id
// and security headers, one JSON log line, the same GCRA limiter in a Durable Object per
// policy:key, sessions in KV under SHA-256 keys, zod validation, D1 queries, and PBKDF2
// through WebCrypto with the same stored hash format.

import { Hono, type Context } from "hono";
import { getCookie } from "hono/cookie";
import { z } from "zod";

type Env = {
  SESSIONS: KVNamespace;
  DB: D1Database;
  RATE_LIMITER: DurableObjectNamespace;
  RATE_LIMITS?: string;
};
type Session = {
  id: string;
  user_id: string;
  role: "user" | "admin";
  epoch: number;
  created_at: number;
  last_seen_at: number;
  idle_expires_at: number;
  absolute_expires_at: number;
  user_agent: string;
};
type Vars = { session?: Session; requestId: string; checked: string[][] };

const IDLE_MS = 7 * 86_400_000;
const ABSOLUTE_MS = 30 * 86_400_000;
const TOUCH_MS = 300_000;
const ITERATIONS = 100_000;

// ---- rate limiting: the same GCRA as src/ratelimit/gcra.rs --------------------------------

type Quota = { limit: number; window_ms: number };
type Decision = { allowed: boolean; remaining: number; reset_ms: number; retry_after_ms: number };

function gcra(q: Quota, tat: number | undefined, now: number): [Decision, number] {
  const interval = q.window_ms / q.limit;
  const t = Math.max(tat ?? now, now);
  const next = t + interval;
  if (next - now <= q.window_ms) {
    const remaining = Math.floor((q.window_ms - (next - now)) / interval + 1e-9);
    return [{ allowed: true, remaining, reset_ms: Math.ceil(next - now), retry_after_ms: 0 }, next];
  }
  const wait = Math.ceil(next - q.window_ms - now);
  return [{ allowed: false, remaining: 0, reset_ms: wait, retry_after_ms: wait }, t];
}

export class RateLimiter {
  private tat: number | undefined | null = null;
  constructor(private state: DurableObjectState) {}

  async fetch(req: Request): Promise<Response> {
    const url = new URL(req.url);
    if (url.pathname === "/ping") return new Response("pong");
    const quota = (await req.json()) as Quota;
    if (this.tat === null) this.tat = await this.state.storage.get<number>("tat");
    const [decision, tat] = gcra(quota, this.tat, Date.now());
    if (decision.allowed) {
      this.tat = tat;
      await this.state.storage.put("tat", tat);
      await this.state.storage.setAlarm(Date.now() + decision.reset_ms + 1000);
    }
    return Response.json(decision);
  }

  async alarm() {
    if (this.tat != null && this.tat > Date.now()) {
      await this.state.storage.setAlarm(this.tat + 1000);
    } else {
      await this.state.storage.deleteAll();
      this.tat = undefined;
    }
  }
}

const DEFAULT_POLICIES: Record<string, Quota> = {
  ip: { limit: 300, window_ms: 60_000 },
  user: { limit: 600, window_ms: 60_000 },
  "login-ip": { limit: 10, window_ms: 60_000 },
  "login-email": { limit: 5, window_ms: 300_000 },
};

function policies(env: Env): Record<string, Quota> {
  const out = { ...DEFAULT_POLICIES };
  for (const item of (env.RATE_LIMITS ?? "").split(",").map((s) => s.trim()).filter(Boolean)) {
    const [name, q] = item.split("=");
    const [limit, secs] = q.split("/").map(Number);
    if (out[name]) out[name] = { limit, window_ms: secs * 1000 };
  }
  return out;
}

async function limit(c: Context<{ Bindings: Env; Variables: Vars }>, checks: [string, string][]) {
  const all = policies(c.env);
  const results = await Promise.all(
    checks.map(async ([name, key]) => {
      const stub = c.env.RATE_LIMITER.get(c.env.RATE_LIMITER.idFromName(`${name}:${key}`));
      const resp = await stub.fetch("https://rate-limiter/check", {
        method: "POST",
        body: JSON.stringify(all[name]),
      });
      return [name, all[name], (await resp.json()) as Decision] as const;
    }),
  );
  for (const [name, q, d] of results) c.get("checked").push([name, String(q.limit), String(q.window_ms / 1000), String(d.remaining), String(Math.ceil(d.reset_ms / 1000))]);
  const denied = results.filter(([, , d]) => !d.allowed);
  if (denied.length) {
    const retry = Math.max(...denied.map(([, , d]) => Math.ceil(d.retry_after_ms / 1000)), 1);
    c.header("Retry-After", String(retry));
    return error(c, 429, "RATE_LIMITED", "Too many requests. Try again later.",
      denied.map(([name]) => ({ field: name, issue: "limit_exceeded" })));
  }
  return null;
}

// ---- errors, pipeline ----------------------------------------------------------------------

function error(c: Context<{ Bindings: Env; Variables: Vars }>, status: number, code: string, message: string, details: unknown[] = []) {
  return c.json({ error: { code, message, details, request_id: c.get("requestId") } }, status as 400);
}

const app = new Hono<{ Bindings: Env; Variables: Vars }>();

app.use("*", async (c, next) => {
  const started = Date.now();
  const inbound = c.req.header("x-request-id");
  c.set("requestId", inbound && /^[A-Za-z0-9._=-]{1,128}$/.test(inbound) ? inbound : crypto.randomUUID());
  c.set("checked", []);
  await next();
  const h = c.res.headers;
  h.set("Strict-Transport-Security", "max-age=63072000; includeSubDomains");
  h.set("X-Content-Type-Options", "nosniff");
  h.set("X-Frame-Options", "DENY");
  h.set("Referrer-Policy", "no-referrer");
  h.set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
  if (!h.has("Cache-Control")) h.set("Cache-Control", "no-store");
  h.set("Vary", "Origin");
  const checked = c.get("checked");
  if (checked.length) {
    h.set("RateLimit-Policy", checked.map(([n, q, w]) => `"${n}";q=${q};w=${w}`).join(", "));
    h.set("RateLimit", checked.map(([n, , , r, t]) => `"${n}";r=${r};t=${t}`).join(", "));
  }
  h.set("X-Request-Id", c.get("requestId"));
  console.log(JSON.stringify({
    time: new Date(started).toISOString(), level: c.res.status >= 500 ? "error" : "info",
    request_id: c.get("requestId"), method: c.req.method, route: c.req.routePath,
    status: c.res.status, duration_ms: Date.now() - started, user_id: c.get("session")?.user_id,
  }));
});

const ip = (c: Context<{ Bindings: Env; Variables: Vars }>) => c.req.header("cf-connecting-ip") ?? "unknown";

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}
const b64url = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes)).replace(/=+$/, "");
const unb64 = (s: string) => Uint8Array.from(atob(s), (ch) => ch.charCodeAt(0));

/// Session auth for the authenticated routes: cookie → SHA-256 → KV, with the same expiry
/// and touch rules as the Rust sessions.
async function authenticate(c: Context<{ Bindings: Env; Variables: Vars }>) {
  const token = getCookie(c, "__Host-session");
  if (!token || !/^[A-Za-z0-9_-]{43}$/.test(token)) return error(c, 401, "UNAUTHENTICATED", "Authentication is required.");
  const raw = Uint8Array.from(atob(token.replace(/-/g, "+").replace(/_/g, "/") + "="), (ch) => ch.charCodeAt(0));
  const key = `session:${await sha256Hex(raw)}`;
  const session = await c.env.SESSIONS.get<Session>(key, "json");
  const now = Date.now();
  if (!session || now >= session.idle_expires_at || now >= session.absolute_expires_at) {
    return error(c, 401, "UNAUTHENTICATED", "Authentication is required.");
  }
  if (c.req.method !== "GET" && c.req.method !== "HEAD") {
    const origin = c.req.header("origin");
    if (origin !== "https://app.example.test" && c.req.header("sec-fetch-site") !== "same-origin") {
      return error(c, 403, "CSRF_REJECTED", "The request origin is not allowed.");
    }
  }
  if (now - session.last_seen_at >= TOUCH_MS) {
    session.last_seen_at = now;
    session.idle_expires_at = Math.min(now + IDLE_MS, session.absolute_expires_at);
    await c.env.SESSIONS.put(key, JSON.stringify(session), { expirationTtl: Math.max(60, Math.ceil((session.absolute_expires_at - now) / 1000)) });
  }
  c.set("session", session);
  return null;
}

function zodDetails(err: z.ZodError) {
  return err.issues.map((i) => ({ field: i.path.join(".") || "$", issue: i.code }));
}

async function jsonBody(c: Context<{ Bindings: Env; Variables: Vars }>, maxBytes: number) {
  if (!(c.req.header("content-type") ?? "").toLowerCase().startsWith("application/json")) {
    return { response: error(c, 415, "UNSUPPORTED_MEDIA_TYPE", "The request body must be sent as application/json.") };
  }
  const text = await c.req.text();
  if (text.length > maxBytes) return { response: error(c, 413, "PAYLOAD_TOO_LARGE", "The request body is too large.") };
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (e) {
    return { response: error(c, 400, "BAD_REQUEST", `The request body is not valid JSON.`) };
  }
}

// ---- routes ---------------------------------------------------------------------------------

// The pipeline alone (middleware, JSON answer, no limiter): the baseline for the limiter's cost.
app.get("/v1/_test/unlimited", (c) => c.json({ ok: true }));

app.get("/v1/health", async (c) => {
  const limited = await limit(c, [["ip", ip(c)]]);
  if (limited) return limited;
  return c.json({ status: "ok", version: "0.1.0" });
});

const Credentials = z.strictObject({
  email: z.string().trim().toLowerCase().email().max(254),
  password: z.string().min(12).max(256),
});

async function pbkdf2(password: string, salt: Uint8Array, iterations: number) {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(password), "PBKDF2", false, ["deriveBits"]);
  return new Uint8Array(await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, key, 256));
}

const DUMMY_HASH = "$pbkdf2-sha256$i=100000$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

app.post("/v1/auth/signup", async (c) => {
  const limited = await limit(c, [["ip", ip(c)]]);
  if (limited) return limited;
  const body = await jsonBody(c, 65536);
  if (body.response) return body.response;
  const parsed = Credentials.safeParse(body.value);
  if (!parsed.success) return error(c, 422, "VALIDATION_ERROR", "One or more fields are invalid.", zodDetails(parsed.error));
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const hash = await pbkdf2(parsed.data.password, salt, ITERATIONS);
  const id = crypto.randomUUID();
  const now = Date.now();
  try {
    await c.env.DB.prepare("INSERT INTO users (id, email, password_hash, role, session_epoch, created_at) VALUES (?1, ?2, ?3, 'user', 0, ?4)")
      .bind(id, parsed.data.email, `$pbkdf2-sha256$i=${ITERATIONS}$${b64(salt)}$${b64(hash)}`, now).run();
  } catch (e) {
    if (String(e).includes("UNIQUE")) return error(c, 409, "CONFLICT", "An account with this e-mail already exists.");
    throw e;
  }
  return c.json({ id, email: parsed.data.email, role: "user", created_at: now }, 201);
});

app.post("/v1/auth/login", async (c) => {
  const limited = await limit(c, [["ip", ip(c)], ["login-ip", ip(c)]]);
  if (limited) return limited;
  const body = await jsonBody(c, 65536);
  if (body.response) return body.response;
  const parsed = Credentials.safeParse(body.value);
  if (!parsed.success) return error(c, 422, "VALIDATION_ERROR", "One or more fields are invalid.", zodDetails(parsed.error));
  const emailLimited = await limit(c, [["login-email", await sha256Hex(new TextEncoder().encode(parsed.data.email))]]);
  if (emailLimited) return emailLimited;
  const user = await c.env.DB.prepare("SELECT id, email, password_hash, role, session_epoch, created_at FROM users WHERE email = ?1")
    .bind(parsed.data.email).first<{ id: string; email: string; password_hash: string; role: "user" | "admin"; session_epoch: number; created_at: number }>();
  const [, , iters, salt, hash] = (user?.password_hash ?? DUMMY_HASH).split("$");
  const derived = await pbkdf2(parsed.data.password, unb64(salt), Number(iters.slice(2)));
  const expected = unb64(hash);
  let diff = derived.length ^ expected.length;
  for (let i = 0; i < derived.length; i++) diff |= derived[i] ^ (expected[i] ?? 0);
  if (!user || diff !== 0) return error(c, 401, "UNAUTHENTICATED", "The e-mail or password is incorrect.");

  const token = crypto.getRandomValues(new Uint8Array(32));
  const key = `session:${await sha256Hex(token)}`;
  const now = Date.now();
  const session: Session = {
    id: crypto.randomUUID(), user_id: user.id, role: user.role, epoch: user.session_epoch,
    created_at: now, last_seen_at: now, idle_expires_at: now + IDLE_MS, absolute_expires_at: now + ABSOLUTE_MS,
    user_agent: (c.req.header("user-agent") ?? "").slice(0, 256),
  };
  const ttl = ABSOLUTE_MS / 1000;
  await c.env.SESSIONS.put(key, JSON.stringify(session), { expirationTtl: ttl });
  await c.env.SESSIONS.put(`user-sessions:${user.id}:${session.id}`, "", {
    expirationTtl: ttl,
    metadata: { key, id: session.id, created_at: now, last_seen_at: now, user_agent: session.user_agent },
  });
  c.header("Set-Cookie", `__Host-session=${b64url(token)}; Path=/; Max-Age=${ttl}; Secure; HttpOnly; SameSite=Lax`);
  return c.json({ user: { id: user.id, email: user.email, role: user.role, created_at: user.created_at }, session_id: session.id });
});

const Tag = z.string().regex(/^[a-z0-9-]{1,32}$/);
const NewNote = z.strictObject({
  title: z.string().trim().min(1).max(200),
  body: z.string().refine((b) => new TextEncoder().encode(b).length <= 65536, "too_long").optional(),
  tags: z.array(Tag).max(16).refine((t) => new Set(t).size === t.length, "duplicate").optional(),
});

app.post("/v1/notes", async (c) => {
  const denied = await authenticate(c);
  if (denied) return denied;
  const session = c.get("session")!;
  const limited = await limit(c, [["ip", ip(c)], ["user", session.user_id]]);
  if (limited) return limited;
  const body = await jsonBody(c, 256 * 1024);
  if (body.response) return body.response;
  const parsed = NewNote.safeParse(body.value);
  if (!parsed.success) return error(c, 422, "VALIDATION_ERROR", "One or more fields are invalid.", zodDetails(parsed.error));
  const now = Date.now();
  const note = { id: crypto.randomUUID(), title: parsed.data.title, body: parsed.data.body ?? "", tags: parsed.data.tags ?? [], created_at: now, updated_at: now, version: 1 };
  await c.env.DB.prepare("INSERT INTO notes (id, owner_id, title, body, tags_json, created_at, updated_at, version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")
    .bind(note.id, session.user_id, note.title, note.body, JSON.stringify(note.tags), now, now, 1).run();
  c.header("Location", `/v1/notes/${note.id}`);
  c.header("ETag", `"v1"`);
  return c.json(note, 201);
});

app.get("/v1/notes/:id", async (c) => {
  const denied = await authenticate(c);
  if (denied) return denied;
  const session = c.get("session")!;
  const limited = await limit(c, [["ip", ip(c)], ["user", session.user_id]]);
  if (limited) return limited;
  const row = await c.env.DB.prepare("SELECT id, owner_id, title, body, tags_json, created_at, updated_at, version FROM notes WHERE id = ?1 AND owner_id = ?2")
    .bind(c.req.param("id"), session.user_id).first<{ id: string; title: string; body: string; tags_json: string; created_at: number; updated_at: number; version: number }>();
  if (!row) return error(c, 404, "NOT_FOUND", "The requested resource was not found.");
  const etag = `"v${row.version}"`;
  c.header("ETag", etag);
  c.header("Cache-Control", "private, no-cache");
  if (c.req.header("if-none-match") === etag) return c.body(null, 304);
  return c.json({ id: row.id, title: row.title, body: row.body, tags: JSON.parse(row.tags_json), created_at: row.created_at, updated_at: row.updated_at, version: row.version });
});

app.notFound((c) => error(c, 404, "NOT_FOUND", "The requested resource was not found."));
app.onError((e, c) => {
  console.error(e);
  return error(c, 500, "INTERNAL", "An internal error occurred.");
});

export default app;
