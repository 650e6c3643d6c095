#!/usr/bin/env bash
# Set up a virtualenv with the dev extras and run the test suite.
# DATABASE_URL=postgresql+asyncpg://... runs the same suite on PostgreSQL; REDIS_URL adds the Redis tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# exactly the locked versions, each checked against its sha256 (requirements/*.lock; bash scripts/lock.sh
# re-resolves them); then the project itself, with no dependency resolution of its own
.venv/bin/python -m pip install -q --require-hashes -r requirements/dev.lock
.venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
# the CJK font of the printable documents (PDF), once: var/fonts/ (scripts/fetch_font.sh; instant when present)
bash scripts/fetch_font.sh
exec .venv/bin/python -m pytest "$@"
