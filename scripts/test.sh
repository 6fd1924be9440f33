#!/usr/bin/env bash
# The whole check: formatting, lints (host and wasm32), a release build, a dry-run deploy,
# native unit tests, wasm tests under node, the Upstash-compatible REST front against Redis,
# then integration tests against workerd.
# With an argument, runs only that stage (check, dry-run).
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

case "${1:-all}" in
  check) check ;;
  dry-run) dry_run ;;
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
    ;;
  *) echo "unknown stage: $1" >&2; exit 2 ;;
esac
