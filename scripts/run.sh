#!/usr/bin/env bash
# `make run`: set everything up, then start the development identity provider
# (oidc-provider-mock, its own process) and the server on SQLite in ./var/,
# in development mode. Ctrl-C stops both, and so does SIGINT or SIGTERM sent to
# `make`, to this script or to either process alone.
set -euo pipefail
cd "$(dirname "$0")/.."

# Ctrl-C at any point, set-up included, stops whatever was started.
pids=()
watcher=
stop() {
    trap - INT TERM EXIT
    if [ -n "$watcher" ]; then kill -TERM "$watcher" 2>/dev/null || true; fi
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap stop EXIT
trap 'stop; exit 130' INT TERM

# GNU make passes SIGTERM on to us, but SIGINT sent to make alone (not to the terminal's
# whole process group) only makes it wait for us. It resets its own handler first, so
# a change in the parent's caught-signal mask (or the parent gone) means: stop.
parent=$PPID
caught() { sed -n 's/^SigCgt:\t*//p' "/proc/$parent/status" 2>/dev/null || true; }
if [ "$(cat "/proc/$parent/comm" 2>/dev/null)" = make ]; then
    initial=$(caught)
    (
        while sleep 0.5; do
            if [ "$(caught)" != "$initial" ]; then kill -TERM $$; exit 0; fi
        done
    ) &
    watcher=$!
fi

scripts/bootstrap.sh
.venv/bin/python tools/build_web.py >/dev/null  # the web app's assets (skips if unchanged)

port=${ZKVAULT_PORT:-8000}
idp_port=${ZKVAULT_DEV_IDP_PORT:-9400}
mkdir -p var
export ZKVAULT_ENVIRONMENT=development
export ZKVAULT_PORT=$port
export ZKVAULT_PUBLIC_URL=${ZKVAULT_PUBLIC_URL:-http://127.0.0.1:$port}
export ZKVAULT_DATABASE_URL=${ZKVAULT_DATABASE_URL:-sqlite:///$PWD/var/zkvault.sqlite3}
export ZKVAULT_OIDC_ISSUER=http://127.0.0.1:$idp_port
# Plain http on loopback: browsers would drop Secure cookies on 127.0.0.1.
export ZKVAULT_COOKIE_SECURE=false

wait_for() {  # url, pid, what
    for _ in $(seq 1 100); do
        if ! kill -0 "$2" 2>/dev/null; then echo "run: $3 failed to start" >&2; exit 1; fi
        if .venv/bin/python -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)" "$1" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    echo "run: $3 did not come up at $1" >&2
    exit 1
}

.venv/bin/python -m oidc_provider_mock --host 127.0.0.1 --port "$idp_port" \
    --user-claims '{"sub": "dev@example.test", "email": "dev@example.test", "name": "Dev User"}' \
    2>var/idp.log &
pids+=($!)
wait_for "$ZKVAULT_OIDC_ISSUER/.well-known/openid-configuration" "${pids[0]}" "the development IdP"

.venv/bin/zkvault-server serve --migrate &
pids+=($!)
wait_for "http://127.0.0.1:$port/healthz" "${pids[1]}" "the server"

cat <<MSG

  zkvault is running (development mode, data in ./var/).
  Open $ZKVAULT_PUBLIC_URL/ and sign in: the development IdP at
  $ZKVAULT_OIDC_ISSUER accepts any user name (try dev@example.test).
  Press Ctrl-C to stop.

MSG
wait -n "${pids[@]}" || true
