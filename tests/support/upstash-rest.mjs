// An Upstash-compatible REST front for a real Redis, so the Worker's L2 adapter is tested
// against the protocol it speaks in production. No Upstash-compatible server exists in the
// package registries; this one reproduces the parts of https://upstash.com/docs/redis/features/restapi
// that clients rely on:
//
// - `POST /` with a JSON command array, e.g. ["SET","k","v","PX",1000] → {"result": …};
//   path style `GET|POST /set/k/v/EX/100` (URL-decoded segments; a POST body is appended as
//   the last argument);
// - `POST /pipeline` (array of commands → array of {"result"} / {"error"}, status 200) and
//   `POST /multi-exec` (the same, atomically in MULTI/EXEC; a transaction Redis refuses to run
//   is 400 {"error"});
// - `Authorization: Bearer <token>` or `?_token=`; missing or wrong → 401;
// - `Upstash-Encoding: base64`: every string result except "OK" is base64 (the official
//   client decodes exactly that way);
// - command errors → 400 {"error": "<Redis error>"}; malformed bodies → 400; Redis
//   unreachable → 503 {"error"} at once. A paused Redis is simply slow, as a slow Upstash is.
//
// Not reproduced: read-your-writes sync tokens, read-only tokens, rate limits, other headers.
// Replies are RESP2, mapped as Upstash maps them: integers → numbers, bulk strings →
// strings, nil → null, arrays → arrays, status replies → strings.

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
      for (let i = 0; i < commands.length; i++) {
        const last = i === commands.length - 1;
        this.pending.push({
          done: (reply) => {
            replies.push(reply);
            if (last) resolve(replies);
          },
          fail: reject,
        });
      }
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
      for (const p of waiting) p.fail(err ?? new Error("connection closed"));
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

// Maps a reply to Upstash's JSON result (errors are handled by the caller).
function toResult(reply, base64) {
  if (reply === null || typeof reply === "number") return reply;
  if (Array.isArray(reply)) return reply.map((r) => (r?.error ? r : toResult(r, base64)));
  if (Buffer.isBuffer(reply)) return base64 ? reply.toString("base64") : reply.toString("utf8");
  if (reply.status !== undefined) {
    return base64 && reply.status !== "OK"
      ? Buffer.from(reply.status).toString("base64")
      : reply.status;
  }
  return reply;
}

const item = (reply, base64) =>
  reply?.error !== undefined ? { error: reply.error } : { result: toResult(reply, base64) };

const isCommand = (c) =>
  Array.isArray(c) &&
  c.length > 0 &&
  c.every((a) => typeof a === "string" || (typeof a === "number" && Number.isFinite(a)));

// Starts the front on 127.0.0.1:`port` (0: any free port) for the Redis at `redisPort`.
export async function startUpstashRest({ redisPort, token, port = 0 }) {
  const redis = new Redis(redisPort);
  const server = createServer(async (req, res) => {
    const answer = (status, body) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    const url = new URL(req.url, "http://front");
    const given = req.headers.authorization?.match(/^Bearer (.+)$/)?.[1] ?? url.searchParams.get("_token");
    if (given !== token) return answer(401, { error: "WRONGPASS invalid or missing auth token" });

    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const raw = Buffer.concat(chunks);
    const base64 = req.headers["upstash-encoding"]?.toLowerCase() === "base64";
    const path = url.pathname.replace(/\/+$/, "");

    let commands;
    let mode = "single";
    if (req.method === "POST" && (path === "" || path === "/pipeline" || path === "/multi-exec")) {
      let body;
      try {
        body = JSON.parse(raw.toString("utf8"));
      } catch {
        return answer(400, { error: "ERR failed to parse the request body as JSON" });
      }
      if (path === "") {
        if (!isCommand(body)) return answer(400, { error: "ERR expected a command array" });
        commands = [body];
      } else {
        if (!Array.isArray(body) || body.length === 0 || !body.every(isCommand)) {
          return answer(400, { error: "ERR expected an array of command arrays" });
        }
        commands = body;
        mode = path.slice(1);
      }
    } else if ((req.method === "GET" || req.method === "POST") && path !== "") {
      const args = path.slice(1).split("/").map(decodeURIComponent);
      commands = [req.method === "POST" && raw.length > 0 ? [...args, raw] : args];
    } else {
      return answer(405, { error: "ERR method not allowed" });
    }

    try {
      if (mode === "multi-exec") {
        const replies = await redis.send([["MULTI"], ...commands, ["EXEC"]]);
        const exec = replies.at(-1);
        if (exec?.error !== undefined) return answer(400, { error: exec.error });
        if (exec === null) return answer(400, { error: "EXECABORT transaction aborted" });
        return answer(200, exec.map((r) => item(r, base64)));
      }
      const replies = await redis.send(commands);
      if (mode === "pipeline") return answer(200, replies.map((r) => item(r, base64)));
      const [reply] = replies;
      return reply?.error !== undefined
        ? answer(400, { error: reply.error })
        : answer(200, { result: toResult(reply, base64) });
    } catch (err) {
      return answer(503, { error: `ERR Redis unreachable: ${err.message}` });
    }
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
