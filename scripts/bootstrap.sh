#!/usr/bin/env bash
# Sets up everything the project needs on a fresh machine: a virtualenv with
# the Python dependencies, the pinned npm packages, and the Debian packages the
# browser tests use. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

# oidc-provider-mock (the development identity provider) needs Python >= 3.12.
find_python() {
    local candidate
    for candidate in ${PYTHON:-} python3.13 python3.12 \
        "$HOME"/.pyenv/versions/3.13*/bin/python3 "$HOME"/.pyenv/versions/3.12*/bin/python3 python3; do
        if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
            echo "$candidate"
            return
        fi
    done
    echo "bootstrap: Python 3.12 or newer is required" >&2
    exit 1
}
if [ ! -x .venv/bin/python ]; then
    "$(find_python)" -m venv .venv
fi
stamp=.venv/.zkvault-installed
want=$(cat pyproject.toml $(ls requirements.lock 2>/dev/null) | sha256sum | cut -d" " -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    constraint=()
    [ -f requirements.lock ] && constraint=(-c requirements.lock)
    .venv/bin/python -m pip install --quiet "${constraint[@]}" -e '.[server,dev]'
    echo "$want" > "$stamp"
fi

# The `zkvault` command: Python without `site` (docs/performance.md, "Start-up without
# site"). pip installed bin/zkvault, which finds the package in the venv's site-packages;
# in this editable install the package is this checkout, which only site's editable finder
# knows, so the launcher runs native/fast.py (it puts the checkout first on the path).
launcher=$(printf '#!/bin/sh\nexec %q -S %q "$@"\n' "$PWD/.venv/bin/python" "$PWD/native/fast.py")
if [ "$(cat .venv/bin/zkvault 2>/dev/null)" != "$launcher" ]; then
    printf '%s\n' "$launcher" > .venv/bin/zkvault
    chmod 755 .venv/bin/zkvault
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
fi

# Debian packages the suites run as real processes: Chromium (browser tests; browsers
# cannot be downloaded here), OpenSSH's server (the `zkvault ssh` tests start their own
# sshd), HAProxy (tests/cluster and benchmarks/server.py; only the binary, no service),
# libfaketime (the rotation tests run one server on an offset clock), zsh and fish (the
# completion scripts are run in the shells they are for), ripgrep (benchmarks/scan.py's
# anchor).
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
dpkg-query -W -f='${Status}' libfaketime 2>/dev/null | grep -q "ok installed" || missing+=(libfaketime)
command -v zsh >/dev/null 2>&1 || missing+=(zsh)
command -v fish >/dev/null 2>&1 || missing+=(fish)
command -v rg >/dev/null 2>&1 || missing+=(ripgrep)
if [ "${#missing[@]}" -gt 0 ]; then
    sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
fi
