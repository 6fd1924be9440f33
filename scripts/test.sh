#!/usr/bin/env bash
# The whole check: formatting, lints (host and wasm32), a release build, a dry-run deploy,
# native unit tests, wasm tests under node, the Upstash-compatible REST front against Redis,
# integration tests against workerd, the browser page end to end in Chromium, then the API
# contract (the document validated and typed, and fuzzed by schemathesis).
# With an argument, runs only that stage (check, dry-run, browser, contract).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

stage() { printf '\n==> %s\n' "$*"; }

check() {
  stage "cargo fmt --check"
  cargo fmt --all -- --check
  stage "cargo clippy (host)"
  cargo clippy --all-targets --locked -- -D warnings
  stage "cargo clippy (wasm32)"
  cargo clippy --all-targets --locked --target wasm32-unknown-unknown -- -D warnings
}

dry_run() {
  stage "wrangler deploy --dry-run"
  local out
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' RETURN
  # The build already ran; skip wrangler's own build step.
  wrangler deploy --dry-run --outdir "$out" --no-bundle 2>&1 | grep -vi 'cf object' || true
  test -s "$out/index.js" || { echo "dry run produced no bundle" >&2; return 1; }
  test -s "$out/index_bg.wasm" || { echo "dry run produced no wasm" >&2; return 1; }
  printf 'deployed size: %s bytes gzip (wasm + JS glue)\n' \
    "$(cat "$out/index.js" "$out/index_bg.wasm" | gzip -9 | wc -c)"
  # The `url` crate and its IDNA tables (about 70 KB gzip) must stay unlinked: the linked
  # module's names section (before wasm-bindgen and wasm-opt) would list their functions.
  local linked=target/wasm32-unknown-unknown/release/edge_api.wasm
  if grep -aqE '_ZN3url|_ZN4idna' "$linked"; then
    echo "the url crate is linked (something reaches worker::Request::url or Url)" >&2
    return 1
  fi
}

browser() {
  stage "browser end to end (Chromium + playwright-core against workerd)"
  node --test-reporter=spec tests/browser/e2e.mjs
}

contract() {
  stage "API document (openapi-spec-validator; openapi-typescript + tsc on a typed client)"
  .tools/py/bin/openapi-spec-validator openapi.json
  mkdir -p target/contract
  openapi-typescript openapi.json -o target/contract/api.d.ts >/dev/null
  tsc -p tests/contract/tsconfig.json
  stage "contract fuzzing (schemathesis against workerd, fixed seed)"
  node tests/contract/fuzz.mjs --examples 40 --seed 1 --min-requests 1000
}

case "${1:-all}" in
  check) check ;;
  dry-run) dry_run ;;
  browser) browser ;;
  contract) contract ;;
  all)
    check
    stage "release build (scripts/build.sh)"
    bash scripts/build.sh
    dry_run
    stage "unit tests (native)"
    cargo test --locked --lib
    stage "wasm tests (node)"
    cargo test --locked --target wasm32-unknown-unknown --test wasm
    stage "REST front for Redis (node --test)"
    node --test tests/support/upstash-rest.test.mjs
    stage "integration tests (workerd via Miniflare)"
    cargo test --locked --test api
    browser
    contract
    ;;
  *) echo "unknown stage: $1" >&2; exit 2 ;;
esac
