#!/usr/bin/env bash
# What the benchmarks need on top of `make setup` (idempotent, quick when present):
# abci-cli (CometBFT's kvstore over a socket) built with `go install` into the same
# per-user cache as cometbft, the Python packages matplotlib, py-spy, pyinstrument
# (pyproject's optional deps `bench`), and valgrind (bench/instructions.py) from apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."
COMETBFT_VERSION=v0.38.25
TOOLS=${AITBC_TOOLS:-$HOME/.cache/aitbc/tools}
PY=.venv/bin/python
say() { printf '[bench-setup] %s\n' "$*" >&2; }

dir="$TOOLS/abci-cli-$COMETBFT_VERSION"
if [ ! -x "$dir/abci-cli" ]; then
    command -v go >/dev/null || { say "go not found: install Go >= 1.22"; exit 1; }
    say "building abci-cli $COMETBFT_VERSION with go install (cached in $dir)"
    mkdir -p "$dir"
    CGO_ENABLED=1 GOBIN="$dir" GOFLAGS=-buildvcs=false go install "github.com/cometbft/cometbft/abci/cmd/abci-cli@$COMETBFT_VERSION" \
        || CGO_ENABLED=1 GOBIN="$dir" GOFLAGS=-buildvcs=false GOSUMDB=off go install "github.com/cometbft/cometbft/abci/cmd/abci-cli@$COMETBFT_VERSION"
fi

if ! "$PY" -c 'import matplotlib, pyinstrument' 2>/dev/null || [ ! -x .venv/bin/py-spy ]; then
    say "installing the bench extras (matplotlib, py-spy, pyinstrument)"
    "$PY" -m pip install -q -e '.[dev,bench]'
fi
if ! command -v valgrind >/dev/null; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        say "installing valgrind (apt-get)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
    else
        say "valgrind missing and apt-get not usable as this user: python -m bench.instructions will not run"
    fi
fi
say "ready"
