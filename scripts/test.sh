#!/usr/bin/env bash
# The whole test suite, from a fresh machine: set up, lint, type-check, check the docs'
# commands, test.
#
# With no arguments the suite runs as two groups at once, one per core: the tests that
# drive Chromium (browser-bound, much of their time spent waiting on the page) and the
# rest (CPU-bound on the server, PostgreSQL and vault_core). Each line of output carries
# its group's name; at the end come the security summary of both groups together and one
# closing line counted from both groups' JUnit reports. With arguments, pytest runs once
# with them (`scripts/test.sh tests/api -k vault`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"

ruff check .
ruff format --check .
mypy
python tools/check_docs.py  # the documented commands are the real ones

# pytest exits 5 when it collected nothing: that is a failure here, never a pass.
fail_on_nothing() {
    if [ "$1" -eq 5 ]; then
        echo "pytest collected no tests: failing" >&2
        return 1
    fi
    return "$1"
}

if [ "$#" -gt 0 ]; then
    set +e
    pytest "$@"
    status=$?
    set -e
    fail_on_nothing "$status"
    exit
fi

# The browser group also takes two modules that spend their time waiting on server
# processes and clocks, not on a core, so that both groups end within a minute or so.
BROWSER=(tests/e2e tests/hostile tests/native/browser tests/cluster
    tests/api/test_rotation.py tests/native/test_rotation.py)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

group() {  # name, pytest arguments...
    local name=$1
    shift
    # --durations: the slowest tests of each group, to keep the two groups balanced.
    ZKVAULT_REPORT_OUT="$out/$name.json" pytest -p no:cacheprovider -m "not benchmark" \
        --durations=25 --durations-min=5 --junitxml="$out/$name.xml" "$@" 2>&1 | sed -u "s/^/[$name] /"
    return "${PIPESTATUS[0]}"
}

started=$(date +%s)
set +e
group browser "${BROWSER[@]}" &
browser=$!
group other tests "${BROWSER[@]/#/--ignore=}" &
other=$!
wait "$browser"
browser_status=$?
wait "$other"
other_status=$?
python -m tests.support.report "$out/browser.json" "$out/other.json"
summary_status=$?
set -e

echo "suite wall time: $(($(date +%s) - started)) s (two groups in parallel)"
python - "$out/browser.xml" "$out/other.xml" <<'PY'
import sys
import xml.etree.ElementTree as ET

totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
for path in sys.argv[1:]:
    try:
        suites = ET.parse(path).getroot().iter("testsuite")
    except (OSError, ET.ParseError):
        print(f"no JUnit report at {path}: that group did not finish", file=sys.stderr)
        continue
    for suite in suites:
        for key in totals:
            totals[key] += int(suite.get(key, 0))
failed = totals["failures"] + totals["errors"]
passed = totals["tests"] - failed - totals["skipped"]
print(f"zkvault: {passed} passed, {failed} failed, {totals['skipped']} skipped")
PY
fail_on_nothing "$browser_status" && fail_on_nothing "$other_status" && exit "$summary_status"
