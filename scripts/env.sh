# Sourced by every script: puts the project's pinned tools first on PATH and tells
# worker-build to use them instead of downloading its own.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
export ORIGINAL_PATH="${ORIGINAL_PATH:-$PATH}"
export PATH="$ROOT/.tools/bin:$CARGO_BIN:$ROOT/node_modules/.bin:$PATH"
export WASM_BINDGEN_BIN="$CARGO_BIN/wasm-bindgen"
export WASM_OPT_BIN="$ROOT/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$ROOT/node_modules/.bin/esbuild"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export WRANGLER_SEND_METRICS=false
export CLOUDFLARE_API_TOKEN="${CLOUDFLARE_API_TOKEN:-}"
cd "$ROOT"
