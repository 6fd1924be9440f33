// Starts a real Redis (Debian's redis-server, installed by scripts/setup.sh) on a loopback
// port with persistence off, and the Upstash-compatible REST front before it. Prints
// {"url", "token", "redis_port", "redis_pid"}; stops both and removes Redis's folder when
// stdin closes. Redis dying on its own does not stop the harness: tests pause or kill it to
// prove the API degrades, and the front then answers errors.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startUpstashRest } from "./upstash-rest.mjs";
import { stopWithParent } from "./lifetime.mjs";

export async function freePort() {
  return new Promise((done) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => done(port));
    });
  });
}

// Starts redis-server and resolves once it answers PING: {port, pid, stop}, where stop()
// kills it, removes its folder and resolves once it has exited.
export async function startRedis() {
  const dir = mkdtempSync(join(tmpdir(), "redis-"));
  const port = await freePort();
  const child = spawn(
    "redis-server",
    [
      "--port", String(port),
      "--bind", "127.0.0.1",
      "--save", "",
      "--appendonly", "no",
      "--dir", dir,
      "--loglevel", "warning",
    ],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  const exited = new Promise((done) => child.once("exit", done));
  // SIGKILL also ends a Redis that a test paused with SIGSTOP.
  const stop = () => {
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    return exited;
  };
  for (let i = 0; ; i++) {
    if (await pings(port)) break;
    if (i > 200 || child.exitCode !== null) {
      stop();
      throw new Error("redis-server did not start (run `make setup`)");
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return { port, pid: child.pid, stop };
}

function pings(port) {
  return new Promise((done) => {
    const socket = connect(port, "127.0.0.1");
    socket.on("error", () => done(false));
    socket.on("data", (d) => {
      socket.destroy();
      done(d.toString().startsWith("+PONG"));
    });
    socket.write("*1\r\n$4\r\nPING\r\n");
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const redis = await startRedis();
  const token = randomBytes(24).toString("base64url");
  const front = await startUpstashRest({ redisPort: redis.port, token });
  stopWithParent(() => {
    front.close();
    return redis.stop();
  });
  process.stdout.write(
    JSON.stringify({ url: front.url, token, redis_port: redis.port, redis_pid: redis.pid }) + "\n",
  );
}
