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
# the lobby board's browser test (tests/board/test_board_browser.py) drives Debian's Chromium through Debian's
# chromedriver: install the two packages when they are missing and we may (root, apt-get); quiet, and a no-op
# when they are there. Without them that test fails as root or under CI, and is skipped otherwise.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium and chromium-driver (Debian) for the lobby board's browser test" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null && apt-get install -y -qq chromium chromium-driver >/dev/null; } \
      || echo "could not install chromium and chromium-driver: the browser test will fail" >&2
  fi
fi
# the CJK font of the printable documents (PDF), once: var/fonts/ (scripts/fetch_font.sh; instant when present)
bash scripts/fetch_font.sh
exec .venv/bin/python -m pytest "$@"
