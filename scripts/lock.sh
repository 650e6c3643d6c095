#!/usr/bin/env bash
# Re-resolve the locked dependencies (hash-pinned) after a change in pyproject.toml, or to upgrade:
#   bash scripts/lock.sh             # keep current pins where they still satisfy pyproject.toml
#   bash scripts/lock.sh --upgrade   # take the newest allowed versions of everything
# Writes requirements/dev.lock (runtime + dev extras, used by scripts/test.sh and CI) and
# requirements/runtime.lock (used by scripts/serve.sh and the Dockerfile), each with sha256 hashes.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TOOLS=$(mktemp -d)
trap 'rm -rf "$TOOLS"' EXIT
"$PY" -m venv "$TOOLS/venv"
"$TOOLS/venv/bin/pip" install -q "pip-tools>=7.4"
common=(--quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links
        --resolver=backtracking "$@")
"$TOOLS/venv/bin/pip-compile" "${common[@]}" --extra dev -o requirements/dev.lock \
  pyproject.toml requirements/build.in
"$TOOLS/venv/bin/pip-compile" "${common[@]}" -c requirements/dev.lock -o requirements/runtime.lock \
  pyproject.toml requirements/build.in
echo "locked: requirements/dev.lock, requirements/runtime.lock"
