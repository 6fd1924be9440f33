#!/usr/bin/env bash
# Installs what `make bench` and the profiles need beyond `make setup`, from Debian (the
# machine's apt sources are a dated snapshot, so the versions are fixed): the wrk load
# generator, and Linux perf for `make profile-perf`.
set -euo pipefail
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v perf >/dev/null 2>&1 || missing+=(linux-perf)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "[bench-setup] installing ${missing[*]} (Debian)"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
