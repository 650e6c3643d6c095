#!/usr/bin/env bash
# Set up a virtualenv and serve the API on a SQLite file (./data/app.db), migrating first.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .
# glibc gives worker threads their own malloc arenas (up to 8 per core) and keeps freed photo bitmaps in
# them; two arenas keep peak memory lower and steadier under concurrent photo uploads (bench/README.md)
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
exec .venv/bin/python -m app serve "$@"
