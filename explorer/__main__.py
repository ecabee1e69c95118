"""python -m aitbc.explorer [--node URL] [--host H] [--port P] [--prometheus URL] [--log-dir DIR]:
serve the web explorer."""

from __future__ import annotations

import argparse

from aitbc.explorer.web import ExplorerSettings, run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m aitbc.explorer", description=__doc__)
    parser.add_argument("--node", help="CometBFT RPC URL [env: AITBC_NODE; default: http://127.0.0.1:26657]")
    parser.add_argument("--host", help="listen address [default: 127.0.0.1]")
    parser.add_argument("--port", type=int, help="listen port [default: 18080]")
    parser.add_argument("--prometheus", help="Prometheus URL; the network page plots its series too [default: none]")
    parser.add_argument("--log-dir", help="folder of explorer.log [env: AITBC_LOG_DIR; default: $AITBC_HOME/explorer]")
    args = parser.parse_args(argv)
    run(ExplorerSettings(**{k: v for k, v in vars(args).items() if v is not None}))


if __name__ == "__main__":
    main()
