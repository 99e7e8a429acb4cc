#!/usr/bin/env bash
# Install the Debian packages Persona needs, only those missing. Idempotent and fast when all are present.
set -euo pipefail
# chromium: the report test takes a headless screenshot of the HTML report to check it renders.
# zlib1g-dev: the `.pt` reader inflates ZIP entries and checks their CRC-32 with zlib (Sources/CZlib).
# cmake, g++: scripts/setup-llama-server.sh builds llama.cpp's server (the engine the
# `--engine openai` end-to-end test runs against, and scripts/bench-compare.sh's comparison).
PACKAGES=(libopenblas-dev libcurl4-openssl-dev libffi-dev libsqlite3-dev zlib1g-dev python3-pip chromium cmake g++)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# python3-pip is only needed when no pip is on PATH (e.g. a pyenv python brings its own).
if command -v pip >/dev/null 2>&1 || command -v pip3 >/dev/null 2>&1; then
  missing=("${missing[@]/python3-pip}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: system packages present"; exit 0
fi
echo "setup: installing ${missing[*]}"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
