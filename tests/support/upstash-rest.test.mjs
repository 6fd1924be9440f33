// The Upstash-compatible REST front on its own, against a real redis-server:
// node --test tests/support/upstash-rest.test.mjs

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
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
  redis.stop();
});

// Sends a request and returns {status, body}, checking the JSON content type.
async function call(path, { body, method = "POST", auth = token, headers = {} } = {}) {
  const res = await fetch(front.url + path, {
    method,
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
  assert.deepEqual((await call("/", { body: ["PTTL", "k1"] })).body.result > 59000, true);
});

test("path style commands, with a POST body as the last argument", async () => {
  assert.deepEqual((await call("/set/p1/hello%20world", { method: "GET" })).body, { result: "OK" });
  assert.deepEqual((await call("/get/p1", { method: "GET" })).body, { result: "hello world" });
  assert.deepEqual((await call("/set/p2", { body: "from the body" })).body, { result: "OK" });
  assert.deepEqual((await call("/get/p2", { method: "GET" })).body, { result: "from the body" });
});

test("a pipeline answers per command, errors included", async () => {
  await call("/", { body: ["SET", "s1", "text"] });
  const { status, body } = await call("/pipeline", {
    body: [["INCR", "n2"], ["INCR", "s1"], ["GET", "n2"], ["NOSUCH"]],
  });
  assert.equal(status, 200);
  assert.deepEqual(body[0], { result: 1 });
  assert.match(body[1].error, /^ERR value is not an integer/);
  assert.deepEqual(body[2], { result: "1" });
  assert.match(body[3].error, /^ERR unknown command/);
});

test("multi-exec runs atomically and a refused transaction runs nothing", async () => {
  const ok = await call("/multi-exec", { body: [["SET", "t1", "a"], ["INCR", "t2"], ["INCR", "t1"]] });
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.body[0], { result: "OK" });
  assert.deepEqual(ok.body[1], { result: 1 });
  assert.match(ok.body[2].error, /not an integer/);

  const refused = await call("/multi-exec", { body: [["INCR", "t3"], ["NOSUCH"]] });
  assert.equal(refused.status, 400);
  assert.match(refused.body.error, /^EXECABORT/);
  assert.deepEqual((await call("/", { body: ["GET", "t3"] })).body, { result: null });
});

test("a missing or wrong token is 401; _token is accepted", async () => {
  for (const auth of [null, "wrong"]) {
    const { status, body } = await call("/", { body: ["GET", "k1"], auth });
    assert.equal(status, 401);
    assert.equal(typeof body.error, "string");
  }
  const res = await fetch(`${front.url}/get/k1?_token=${token}`);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { result: "v1" });
});

test("Upstash-Encoding: base64 encodes string results except OK", async () => {
  const b64 = { "upstash-encoding": "base64" };
  const binary = Buffer.from([0xff, 0x00, 0xfe, 0x7c]);
  assert.deepEqual((await call("/set/bin1", { body: binary, headers: b64 })).body, { result: "OK" });
  const got = await call("/", { body: ["GET", "bin1"], headers: b64 });
  assert.deepEqual(Buffer.from(got.body.result, "base64"), binary);
  const piped = await call("/pipeline", { body: [["GET", "k1"], ["INCR", "n9"], ["PING"]], headers: b64 });
  assert.equal(Buffer.from(piped.body[0].result, "base64").toString(), "v1");
  assert.deepEqual(piped.body[1], { result: 1 });
  assert.equal(Buffer.from(piped.body[2].result, "base64").toString(), "PONG");
  const list = await call("/", { body: ["LRANGE", "l1", 0, -1], headers: b64 });
  assert.deepEqual(list.body.result.map((s) => Buffer.from(s, "base64").toString()), ["a", "b"]);
});

test("command errors and malformed bodies are 400 with an error", async () => {
  const wrongType = await call("/", { body: ["LPUSH", "k1", "x"] });
  assert.equal(wrongType.status, 400);
  assert.match(wrongType.body.error, /^WRONGTYPE/);
  for (const [path, body] of [
    ["/", "{not json"],
    ["/", { not: "an array" }],
    ["/", []],
    ["/", ["GET", { key: 1 }]],
    ["/pipeline", ["GET", "k1"]],
    ["/pipeline", []],
    ["/multi-exec", [["GET", "k1"], "x"]],
  ]) {
    const res = await call(path, { body });
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(typeof res.body.error, "string");
  }
});

test("Redis gone: the front answers 503 at once", async () => {
  redis.stop();
  const started = Date.now();
  const { status, body } = await call("/", { body: ["GET", "k1"] });
  assert.equal(status, 503);
  assert.match(body.error, /unreachable/);
  assert.ok(Date.now() - started < 2000);
});
