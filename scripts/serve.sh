#!/usr/bin/env bash
# Set up a virtualenv and serve the API on a SQLite file (./data/app.db), migrating first.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# exactly the locked versions, each checked against its sha256 (requirements/*.lock; bash scripts/lock.sh
# re-resolves them); then the project itself, with no dependency resolution of its own
.venv/bin/python -m pip install -q --require-hashes -r requirements/runtime.lock
.venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
# the CJK font of the printable documents (PDF), once: var/fonts/ (scripts/fetch_font.sh; instant when present)
bash scripts/fetch_font.sh
# glibc gives worker threads their own malloc arenas (up to 8 per core) and keeps freed photo bitmaps in
# them; two arenas keep peak memory lower and steadier under concurrent photo uploads (bench/README.md)
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
exec .venv/bin/python -m app serve "$@"
