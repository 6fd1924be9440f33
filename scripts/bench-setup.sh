#!/usr/bin/env bash
# Installs what `make bench` needs beyond `make setup`: the wrk load generator, from Debian
# (the machine's apt sources are a dated snapshot, so the version is fixed).
set -euo pipefail
if ! command -v wrk >/dev/null 2>&1; then
  echo "[bench-setup] installing wrk (Debian)"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq wrk >/dev/null
fi
