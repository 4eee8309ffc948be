#!/usr/bin/env bash
# Create .venv and install the project; re-runs only when pyproject.toml changed.
# Usage: scripts/setup.sh [dev]   ("dev" adds test tools and Debian's chromium for browser tests)
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-}"
py="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$py" -m venv .venv
stamp=".venv/.installed-${extra:-app}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  # torch is pinned to 2.13.0 (CPU wheel); installing it first keeps pip from resolving a CUDA build.
  echo "Installing into .venv (first time: a few minutes)…"
  quiet() { "$@" 2>&1 | { grep -v "is neither a file nor a directory" || true; }; }  # local index noise
  quiet .venv/bin/pip install -q torch==2.13.0
  if [ "$extra" = dev ]; then quiet .venv/bin/pip install -q -e ".[dev]"; else quiet .venv/bin/pip install -q -e .; fi
  touch "$stamp"
fi
if [ "$extra" = dev ] && { [ ! -x /usr/bin/chromium ] || ! ls /usr/share/fonts/opentype/noto/NotoSansCJK* >/dev/null 2>&1; }; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "Installing Debian's chromium and chromium-driver for the browser tests…"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-noto-cjk fonts-noto-color-emoji) >/dev/null
  else
    echo "note: /usr/bin/chromium is missing; browser tests will be skipped (sudo apt-get install chromium chromium-driver)" >&2
  fi
fi
