#!/usr/bin/env bash
# The release build: worker-build (cargo, wasm-bindgen, wasm-opt -Os, esbuild), the entry
# exported as an object rather than a class constructed per request (scripts/entry.mjs), then
# the Wasm names section is stripped. worker-build keeps it so panic traces name functions; it
# is about a sixth of the module, and panic messages are logged either way.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
NO_MINIFY=1 worker-build --release
node scripts/entry.mjs build/index.js
# A copy with the function names, for `make profile-perf` (bench/perf-profile.mjs).
mkdir -p target/profile
cp build/index_bg.wasm target/profile/index_bg.named.wasm
# The same feature set worker-build gives wasm-opt: what workerd supports, nothing newer.
wasm-opt build/index_bg.wasm --strip-debug \
  --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int \
  --enable-bulk-memory --enable-multivalue --enable-reference-types \
  --enable-exception-handling \
  -o build/index_bg.wasm
