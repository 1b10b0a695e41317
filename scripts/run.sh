#!/usr/bin/env bash
# Sets up everything and runs the service locally.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/zkvault-demo "$@"
