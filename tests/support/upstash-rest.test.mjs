// The Upstash-compatible REST front on its own, against a real redis-server:
// node --test tests/support/upstash-rest.test.mjs

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { startRedis } from "./redis.mjs";
import { startUpstashRest } from "./upstash-rest.mjs";

const token = "test-token-0123456789";
let redis;
let front;

before(async () => {
  redis = await startRedis();
  front = await startUpstashRest({ redisPort: redis.port, token });
});

after(() => {
  front.close();
  return redis.stop();
});

// Sends a request and returns {status, body}, checking the JSON content type. A request
// that hangs fails its test after 5 s.
async function call(path, { body, method = "POST", auth = token, headers = {} } = {}) {
  const res = await fetch(front.url + path, {
    method,
    signal: AbortSignal.timeout(5000),
    headers: {
      ...(auth ? { authorization: `Bearer ${auth}` } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body),
  });
  assert.equal(res.headers.get("content-type"), "application/json");
  return { status: res.status, body: await res.json() };
}

test("single commands map every reply type", async () => {
  assert.deepEqual(await call("/", { body: ["SET", "k1", "v1", "PX", 60000] }), {
    status: 200,
    body: { result: "OK" },
  });
  assert.deepEqual((await call("/", { body: ["GET", "k1"] })).body, { result: "v1" });
  assert.deepEqual((await call("/", { body: ["INCR", "n1"] })).body, { result: 1 });
  assert.deepEqual((await call("/", { body: ["GET", "missing"] })).body, { result: null });
  await call("/", { body: ["RPUSH", "l1", "a", "b"] });
  assert.deepEqual((await call("/", { body: ["LRANGE", "l1", 0, -1] })).body, { result: ["a", "b"] });
  assert.deepEqual((await call("/", { body: ["PING"] })).body, { result: "PONG" });
  const ttl = (await call("/", { body: ["PTTL", "k1"] })).body.result;
  assert.ok(ttl > 59000 && ttl <= 60000, `PTTL ${ttl}`);
});

test("booleans and numbers are sent as their text, as the official client relies on", async () => {
  assert.deepEqual((await call("/", { body: ["SET", "bool:1", true] })).body, { result: "OK" });
  assert.deepEqual((await call("/", { body: ["GET", "bool:1"] })).body, { result: "true" });
  const piped = await call("/pipeline", { body: [["SET", "bool:2", false], ["SET", "bool:3", 1.5], ["MGET", "bool:2", "bool:3"]] });
  assert.deepEqual(piped, { status: 200, body: [{ result: "OK" }, { result: "OK" }, { result: ["false", "1.5"] }] });
  assert.equal((await call("/", { body: ["SET", "x", null] })).status, 400, "null is not an argument");
  assert.equal((await call("/", { body: ["SET", "x", { a: 1 }] })).status, 400, "objects are not arguments");
});

test("path style commands: segments, then a POST or PUT body, then query pairs", async () => {
  assert.deepEqual((await call("/set/p1/hello%20world", { method: "GET" })).body, { result: "OK" });
  assert.deepEqual((await call("/get/p1", { method: "GET" })).body, { result: "hello world" });
  assert.deepEqual((await call("/set/p2", { body: "from the body" })).body, { result: "OK" });
  assert.deepEqual((await call("/get/p2", { method: "GET" })).body, { result: "from the body" });
  const put = await call("/set/p3?EX=100", { method: "PUT", body: "x/y" });
  assert.deepEqual(put, { status: 200, body: { result: "OK" } });
  assert.deepEqual((await call("/get/p3", { method: "GET" })).body, { result: "x/y" });
  const ttl = (await call("/ttl/p3", { method: "GET" })).body.result;
  assert.ok(ttl > 90 && ttl <= 100, `TTL ${ttl}`);
});

test("a pipeline answers per command, errors included", async () => {
  await call("/", { body: ["SET", "s1", "text"] });
  const { status, body } = await call("/pipeline", {
    body: [["INCR", "n2"], ["INCR", "s1"], ["GET", "n2"], ["NOSUCH"]],
  });
  assert.equal(status, 200);
  assert.equal(body.length, 4);
  assert.deepEqual(body[0], { result: 1 });
  assert.match(body[1].error, /^ERR value is not an integer/);
  assert.deepEqual(body[2], { result: "1" });
  assert.match(body[3].error, /^ERR unknown command/);
});

test("multi-exec runs in one MULTI/EXEC: a discarded transaction runs nothing", async () => {
  const ok = await call("/multi-exec", { body: [["SET", "t1", "a"], ["INCR", "t2"], ["INCR", "t1"]] });
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.body[0], { result: "OK" });
  assert.deepEqual(ok.body[1], { result: 1 });
  assert.match(ok.body[2].error, /not an integer/);
  assert.equal(ok.body.length, 3);

  const discarded = await call("/multi-exec", { body: [["INCR", "t3"], ["NOSUCH"]] });
  assert.equal(discarded.status, 400);
  assert.deepEqual(Object.keys(discarded.body), ["error"]);
  assert.match(discarded.body.error, /^ERR unknown command 'NOSUCH'/);
  assert.deepEqual((await call("/", { body: ["GET", "t3"] })).body, { result: null });
});

test("a missing or wrong token is 401; _token is accepted", async () => {
  for (const auth of [null, "wrong"]) {
    assert.deepEqual(await call("/", { body: ["GET", "k1"], auth }), {
      status: 401,
      body: { error: "WRONGPASS invalid or missing auth token" },
    });
  }
  const res = await fetch(`${front.url}/get/k1?_token=${token}`);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { result: "v1" });
  assert.equal((await fetch(`${front.url}/get/k1?_token=wrong`)).status, 401);
});

test("Upstash-Encoding: base64 encodes every string but a top-level OK", async () => {
  const b64 = { "upstash-encoding": "base64" };
  const binary = Buffer.from([0xff, 0x00, 0xfe, 0x7c]);
  assert.deepEqual((await call("/set/bin1", { body: binary, headers: b64 })).body, { result: "OK" });
  const got = await call("/", { body: ["GET", "bin1"], headers: b64 });
  assert.deepEqual(Buffer.from(got.body.result, "base64"), binary);
  // Without it, invalid UTF-8 is replaced, as Upstash documents.
  const plain = await call("/get/bin1", { method: "GET" });
  assert.deepEqual(plain.body, { result: "\ufffd\u0000\ufffd|" });

  const piped = await call("/pipeline", {
    body: [["GET", "k1"], ["INCR", "n9"], ["PING"], ["SET", "k9", "OK"]],
    headers: b64,
  });
  assert.equal(Buffer.from(piped.body[0].result, "base64").toString(), "v1");
  assert.deepEqual(piped.body[1], { result: 1 });
  assert.equal(Buffer.from(piped.body[2].result, "base64").toString(), "PONG");
  assert.deepEqual(piped.body[3], { result: "OK" });
  // A bulk "OK" is data, and a status nested in an array is encoded like any string.
  const bulkOk = await call("/get/k9", { method: "GET", headers: b64 });
  assert.deepEqual(bulkOk.body, { result: "T0s=" });
  const script = "return {redis.status_reply('OK'), {'a', 7}}";
  const nested = await call("/", { body: ["EVAL", script, 0], headers: b64 });
  assert.deepEqual(nested.body, { result: ["T0s=", ["YQ==", 7]] });
});

test("command errors, malformed requests and refused commands are errors", async () => {
  const wrongType = await call("/", { body: ["LPUSH", "k1", "x"] });
  assert.equal(wrongType.status, 400);
  assert.match(wrongType.body.error, /^WRONGTYPE/);
  const arity = await call("/", { body: ["GET"] });
  assert.equal(arity.status, 400);
  assert.match(arity.body.error, /^ERR wrong number of arguments/);
  for (const [path, body] of [
    ["/", "{not json"],
    ["/", { not: "an array" }],
    ["/", []],
    ["/", ["GET", { key: 1 }]],
    ["/pipeline", ["GET", "k1"]],
    ["/pipeline", []],
    ["/multi-exec", [["GET", "k1"], "x"]],
    ["/", ["BLPOP", "l9", 0]],
    ["/pipeline", [["GET", "k1"], ["select", 1]]],
    ["/multi-exec", [["WATCH", "k1"]]],
    ["/get/%E0%A4%A", undefined],
  ]) {
    const res = await call(path, { body });
    assert.equal(res.status, 400, `${path} ${JSON.stringify(body)}`);
    assert.equal(typeof res.body.error, "string");
  }
  const get = await call("/", { method: "GET" });
  assert.equal(get.status, 400);
  const del = await call("/get/k1", { method: "DELETE" });
  assert.deepEqual(del, { status: 405, body: { error: "ERR method not allowed" } });
});

test("Redis gone: a waiting request and later ones get 503 at once", async () => {
  process.kill(redis.pid, "SIGSTOP");
  const waiting = call("/", { body: ["GET", "k1"] });
  const first = await Promise.race([waiting.then(() => "answered"), sleep(200, "waiting")]);
  assert.equal(first, "waiting", "a paused Redis is slow, not an error");
  const started = Date.now();
  redis.stop();
  const broken = await waiting;
  assert.equal(broken.status, 503);
  assert.match(broken.body.error, /unreachable/);
  for (const path of ["/", "/pipeline", "/multi-exec"]) {
    const body = path === "/" ? ["GET", "k1"] : [["GET", "k1"]];
    const { status, body: answer } = await call(path, { body });
    assert.equal(status, 503, path);
    assert.match(answer.error, /^ERR Redis unreachable/);
  }
  assert.ok(Date.now() - started < 2000, `${Date.now() - started} ms`);
});
