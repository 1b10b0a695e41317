#!/usr/bin/env bash
# The whole test suite, from a fresh machine: set up, lint, type-check, test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"

ruff check .
ruff format --check .
mypy
# pytest exits 5 when it collected nothing: that is a failure here, never a pass.
set +e
pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: failing" >&2
    exit 1
fi
exit "$status"
