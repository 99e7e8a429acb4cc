#!/usr/bin/env bash
# Take a headless Chromium screenshot of a report page: scripts/screenshot-report.sh REPORT.html OUT.png
# Skipped (exit 0 with a message) when chromium is not installed: `apt-get install -y chromium`.
# SCREENSHOT_WIDTH / SCREENSHOT_HEIGHT set the window (default 1280 × 5000: the whole page of a
# small run). Network is pointed at a dead proxy: the page must render with no network at all.
set -euo pipefail
if [ $# -ne 2 ]; then echo "usage: $0 REPORT.html OUT.png" >&2; exit 2; fi
page="$1"; out="$2"
[ -f "$page" ] || { echo "screenshot: $page does not exist" >&2; exit 2; }
browser=""
for b in chromium chromium-browser google-chrome; do
  if command -v "$b" >/dev/null 2>&1; then browser="$b"; break; fi
done
if [ -z "$browser" ]; then
  echo "screenshot: skipped: chromium is not installed (apt-get install -y chromium)"
  exit 0
fi
abs="$(cd "$(dirname "$page")" && pwd)/$(basename "$page")"
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --mute-audio \
  --no-first-run --disable-background-networking --disable-extensions --disable-sync \
  --proxy-server=127.0.0.1:9 --user-data-dir="$profile" \
  --window-size="${SCREENSHOT_WIDTH:-1280},${SCREENSHOT_HEIGHT:-5000}" \
  --screenshot="$out" "file://$abs" >/dev/null 2>&1 || { echo "screenshot: $browser failed" >&2; exit 1; }
[ -s "$out" ] || { echo "screenshot: $browser wrote no $out" >&2; exit 1; }
echo "screenshot: $out"
