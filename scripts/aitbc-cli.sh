#!/usr/bin/env bash
# The flowchart's CLI wrapper: sets the coordinator URL and API key, then calls
# the Python client. Usage:
#   scripts/aitbc-cli.sh submit inference --prompt "What is machine learning?" --model llama3.2:latest
#   scripts/aitbc-cli.sh status job_123456
# Environment: AITBC_URL (default http://127.0.0.1:18000), CLIENT_KEY or
# AITBC_API_KEY (the coordinator API key), AITBC_FROM (key that signs, default alice).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || { echo "aitbc-cli.sh: $ROOT/.venv is missing: run make setup" >&2; exit 2; }
if [ $# -eq 0 ]; then
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
export AITBC_URL="${AITBC_URL:-http://127.0.0.1:18000}"
# The key goes by environment, never argv: every local user can read argv with `ps`.
export AITBC_API_KEY="${AITBC_API_KEY:-${CLIENT_KEY:-}}"
exec "$PY" "$ROOT/cli/client.py" "$@"
