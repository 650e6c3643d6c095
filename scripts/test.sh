#!/usr/bin/env bash
# Set up a virtualenv with the dev extras and run the test suite.
# DATABASE_URL=postgresql+asyncpg://... runs the same suite on PostgreSQL; REDIS_URL adds the Redis tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev]"
exec .venv/bin/python -m pytest "$@"
