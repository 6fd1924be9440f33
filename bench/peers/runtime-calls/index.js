// What a pipeline-only request of this template asks of the runtime, without the Rust: the
// calls `src/platform.rs`'s glue makes (the method, the URL and five headers read in one go;
// the clock twice; one log line; a Response with a text body and ten headers, the content
// type set and the rest appended), made here with constant values. `bench/isolate-workerd.mjs`
// serves it beside the template to split the template's cost per call into the runtime's
// share and the Wasm's (bench/README.md, "Instruments").
const names = ["x-request-id", "traceparent", "origin", "x-d1-bookmark", "x-test-clock-advance-ms"];
const head = [
  ["Content-Type", "application/json"],
  ["Strict-Transport-Security", "max-age=63072000; includeSubDomains"],
  ["X-Content-Type-Options", "nosniff"],
  ["X-Frame-Options", "DENY"],
  ["Referrer-Policy", "no-referrer"],
  ["Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"],
  ["Cache-Control", "no-store"],
  ["Vary", "Origin"],
  ["X-Request-Id", "01a231dd-13e4-7c80-8b42-f8398daade2a"],
  ["traceparent", "00-ef45c39192a5db78112b83ea21d93796-ca5c2d512bae9214-00"],
].map(([n, v]) => `${n}\n${v}\n`).join("");
const line = JSON.stringify({
  time: "2026-12-01T13:48:21.860Z", level: "info",
  request_id: "01a231dd-13e4-7c80-8b42-f8398daade2a", trace_id: "ef45c39192a5db78112b83ea21d93796",
  method: "GET", route: "/v1/_test/unlimited", status: 200, duration_ms: 0,
});
const body = JSON.stringify({ ok: true });

export default {
  fetch(req) {
    const headers = req.headers;
    let read = req.method + "\n" + req.url;
    for (const name of names) read += "\n" + (headers.get(name) ?? "\0");
    Date.now();
    Date.now();
    console.log(line);
    // The status depends on what was read, so no engine can drop the reads as unused.
    const response = new Response(body, { status: read.length > 0 ? 200 : 500 });
    const out = response.headers;
    const parts = head.split("\n");
    for (let i = 0; i + 1 < parts.length; i += 2) {
      if (parts[i] === "Content-Type") out.set(parts[i], parts[i + 1]);
      else out.append(parts[i], parts[i + 1]);
    }
    return response;
  },
};
