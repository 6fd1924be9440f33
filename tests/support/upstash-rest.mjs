// An Upstash-compatible REST front for a real Redis, so the Worker's L2 adapter is tested
// against the protocol it speaks in production (no such server is in the package registries).
// It reproduces https://upstash.com/docs/redis/features/restapi as the official client
// (upstash/redis-js, packages/redis/pkg/http.ts) relies on it:
//
// - `POST /` with a JSON command array, e.g. ["SET","k","v","PX",1000] → {"result": …}
//   (numbers and booleans go to Redis as their text); path style `GET|HEAD|POST|PUT /set/k/v/EX/100`
//   (URL-decoded segments, then a POST/PUT body, then the query's pairs: `/set/k?EX=100`);
// - `POST /pipeline` → 200, one {"result"} or {"error"} per command; `POST /multi-exec` the
//   same in MULTI/EXEC, or 400 {"error": "ERR …"} (the refused command's) when discarded;
// - `Authorization: Bearer <token>` or `?_token=`, else 401 {"error": "WRONGPASS invalid or
//   missing auth token"}, the text Upstash's troubleshooting pages show;
// - `Upstash-Encoding: base64`: every string in the result is base64 except a top-level "OK",
//   as the client decodes; without it, invalid UTF-8 becomes U+FFFD;
// - command errors and malformed bodies → 400 {"error"}; other methods → 405; commands that
//   would change or hold the one shared connection → 400 (lone MULTI/EXEC, connection,
//   pub/sub and blocking commands; the docs list most as unsupported or as own endpoints).
//
// Chosen here, not Upstash's documented behaviour: Redis unreachable → 503 {"error"} at once
// (a paused Redis is simply slow, as a slow Upstash is), and this front's own error texts.
// Not reproduced: read-your-writes sync tokens, read-only tokens, rate and size limits,
// `Upstash-Response-Format: resp2`, the /monitor and /subscribe event streams, and exact
// integers beyond 2^53 (they pass through JavaScript numbers).

import { createServer } from "node:http";
import { connect } from "node:net";

// One Redis connection; each HTTP request writes its commands in one write and reads its
// replies in order, so requests never interleave.
class Redis {
  constructor(port, host = "127.0.0.1") {
    this.port = port;
    this.host = host;
    this.socket = null;
    this.pending = [];
    this.buffer = Buffer.alloc(0);
  }

  // Sends commands (arrays of strings/Buffers) and resolves with their replies.
  send(commands) {
    return new Promise((resolve, reject) => {
      const socket = this.socket ?? this.open();
      const replies = [];
      const done = (reply) => replies.push(reply) === commands.length && resolve(replies);
      for (let i = 0; i < commands.length; i++) this.pending.push({ done, fail: reject });
      socket.write(Buffer.concat(commands.map(encode)));
    });
  }

  open() {
    const socket = connect(this.port, this.host);
    socket.setNoDelay(true);
    socket.on("data", (chunk) => this.receive(chunk));
    const broken = (err) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.buffer = Buffer.alloc(0);
      const waiting = this.pending.splice(0);
      const cause = new Error(`Redis unreachable: ${err?.message ?? "connection closed"}`);
      for (const p of waiting) p.fail(cause);
    };
    socket.on("error", broken);
    socket.on("close", () => broken());
    this.socket = socket;
    return socket;
  }

  receive(chunk) {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const parsed = parse(this.buffer, 0);
      if (!parsed) return;
      this.buffer = this.buffer.subarray(parsed.end);
      this.pending.shift()?.done(parsed.value);
    }
  }

  close() {
    this.socket?.destroy();
  }
}

function encode(args) {
  const parts = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = Buffer.isBuffer(arg) ? arg : Buffer.from(String(arg));
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from("\r\n"));
  }
  return Buffer.concat(parts);
}

// Parses one RESP2 reply at `at`; null when incomplete. Values: {status}, {error}, numbers,
// Buffers (bulk), null, arrays.
function parse(buf, at) {
  const eol = buf.indexOf("\r\n", at);
  if (eol < 0) return null;
  const line = buf.toString("utf8", at + 1, eol);
  const next = eol + 2;
  switch (String.fromCharCode(buf[at])) {
    case "+":
      return { value: { status: line }, end: next };
    case "-":
      return { value: { error: line }, end: next };
    case ":":
      return { value: Number(line), end: next };
    case "$": {
      const len = Number(line);
      if (len < 0) return { value: null, end: next };
      if (buf.length < next + len + 2) return null;
      return { value: buf.subarray(next, next + len), end: next + len + 2 };
    }
    case "*": {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      const items = [];
      let end = next;
      for (let i = 0; i < n; i++) {
        const item = parse(buf, end);
        if (!item) return null;
        items.push(item.value);
        end = item.end;
      }
      return { value: items, end };
    }
    default:
      throw new Error(`unexpected RESP type byte ${buf[at]}`);
  }
}

// Maps a reply to Upstash's JSON result: integers → numbers, nil → null, arrays → arrays,
// bulk strings and status replies → strings (an error nested in an array → its text).
function toResult(reply, base64) {
  if (reply === null || typeof reply === "number") return reply;
  if (Array.isArray(reply)) return reply.map((r) => toResult(r, base64));
  const bytes = Buffer.isBuffer(reply) ? reply : Buffer.from(reply.status ?? reply.error);
  return bytes.toString(base64 ? "base64" : "utf8");
}

// One command's entry: {"error"} or {"result"}, where a top-level "OK" stays plain.
const item = (reply, base64) =>
  reply?.error !== undefined
    ? { error: reply.error }
    : { result: reply?.status === "OK" ? "OK" : toResult(reply, base64) };

// Arguments are JSON strings, numbers or booleans, as the official client sends them
// (`set(k, true)` sends `true`); numbers and booleans reach Redis as their text.
const isCommand = (c) =>
  Array.isArray(c) &&
  c.length > 0 &&
  c.every(
    (a) => typeof a === "string" || typeof a === "boolean" || (typeof a === "number" && Number.isFinite(a)),
  );

// Commands that would change or hold the one shared connection.
const REFUSED = new Set(
  `multi exec discard watch unwatch auth hello select quit reset monitor subscribe
   psubscribe ssubscribe blpop brpop brpoplpush blmove blmpop bzpopmin bzpopmax bzmpop
   wait waitaof`.split(/\s+/),
);

// Starts the front on 127.0.0.1:`port` (0: any free port) for the Redis at
// `redisHost`:`redisPort`. Resolves with {url, close}.
export async function startUpstashRest({ redisPort, redisHost = "127.0.0.1", token, port = 0 }) {
  const redis = new Redis(redisPort, redisHost);
  const server = createServer(async (req, res) => {
    // A rejection is Redis unreachable or gone mid-request (or a client gone, unanswered).
    const [status, body] = await respond(req, redis, token).catch((err) => [
      503,
      { error: `ERR ${err.message}` },
    ]);
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  });
  await new Promise((done) => server.listen(port, "127.0.0.1", done));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => {
      redis.close();
      server.closeAllConnections();
      server.close();
    },
  };
}

// Answers one request: [status, JSON body].
async function respond(req, redis, token) {
  const url = new URL(req.url, "http://front");
  const given = req.headers.authorization?.match(/^Bearer (.+)$/)?.[1] ?? url.searchParams.get("_token");
  if (given !== token) return [401, { error: "WRONGPASS invalid or missing auth token" }];
  if (!["GET", "HEAD", "POST", "PUT"].includes(req.method)) {
    return [405, { error: "ERR method not allowed" }];
  }

  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const raw = Buffer.concat(chunks);
  const base64 = req.headers["upstash-encoding"]?.toLowerCase() === "base64";
  const withBody = req.method === "POST" || req.method === "PUT";
  const path = url.pathname.replace(/\/+$/, "");

  let commands;
  let mode = "single";
  if (withBody && ["", "/pipeline", "/multi-exec"].includes(path)) {
    let body;
    try {
      body = JSON.parse(raw.toString("utf8"));
    } catch {
      return [400, { error: "ERR failed to parse the request body as JSON" }];
    }
    if (path === "") {
      if (!isCommand(body)) return [400, { error: "ERR expected a command array" }];
      commands = [body];
    } else {
      if (!Array.isArray(body) || body.length === 0 || !body.every(isCommand)) {
        return [400, { error: "ERR expected an array of command arrays" }];
      }
      commands = body;
      mode = path.slice(1);
    }
  } else if (path !== "") {
    let args;
    try {
      args = path.slice(1).split("/").map(decodeURIComponent);
    } catch {
      return [400, { error: "ERR malformed percent-encoding in the path" }];
    }
    if (withBody && raw.length > 0) args.push(raw);
    for (const [name, value] of url.searchParams) if (name !== "_token") args.push(name, value);
    commands = [args];
  } else {
    return [400, { error: "ERR no command given" }];
  }
  const refused = commands.find((c) => REFUSED.has(String(c[0]).toLowerCase()));
  if (refused) return [400, { error: `ERR command not supported over REST: ${refused[0]}` }];

  if (mode === "multi-exec") {
    const replies = await redis.send([["MULTI"], ...commands, ["EXEC"]]);
    const exec = replies.at(-1);
    if (exec?.error !== undefined) {
      // Discarded: the error of the command Redis refused to queue, else EXEC's own.
      const notQueued = replies.slice(1, -1).find((r) => r?.error !== undefined);
      return [400, { error: (notQueued ?? exec).error }];
    }
    return [200, exec.map((r) => item(r, base64))];
  }
  const replies = await redis.send(commands);
  if (mode === "pipeline") return [200, replies.map((r) => item(r, base64))];
  const single = item(replies[0], base64);
  return [single.error === undefined ? 200 : 400, single];
}
