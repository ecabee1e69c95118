"""Join time of a new full node: state sync against replaying every block.

A single validator makes blocks every ~10 ms; JOBS submit_job and TRANSFERS
transfers go into its state; at height HEIGHT it snapshots. Then one node
joins by state sync and then one by replay (block sync from height 1), each
timed from its start until it has the same target block: the chain's height
when the first join began. (Not "caught up with the head": once out of block
sync, a full node follows this 10 ms chain by consensus gossip at a few
blocks a second, slower than the chain grows.) Not a pass/fail test.
Usage: python -m bench.state_sync [--height 2000] [--jobs 2000] [--transfers 500]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from aitbc.ops.harness import joining


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--height", type=int, default=2000)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--transfers", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-state-sync-") as scratch:
        root = Path(scratch)
        (root / "source").mkdir()
        source = joining.fast_validator(root / "source", snapshot_interval=args.height)
        source.start()
        try:
            joining.fill(source.rpc, args.jobs, args.transfers)
            source.wait_for_height(args.height + 5, timeout=600)
            joining.wait_for_snapshot(source.home, args.height, timeout=120)
            target = source.height()  # the same block for both joiners
            for name, state_sync in (("state sync", True), ("replay", False)):
                (root / name.replace(" ", "-")).mkdir()
                node = joining.joining_node(source, root / name.replace(" ", "-"), state_sync=state_sync)
                started = time.monotonic()
                node.start()
                try:
                    node.wait_for_height(target, timeout=900)
                    seconds = time.monotonic() - started
                    base = joining.status(node.rpc)["sync_info"]["earliest_block_height"]
                finally:
                    node.stop()
                print(f"{name:10s}: has block {target} {seconds:6.1f} s after its start "
                      f"(block store from height {base})", flush=True)
        finally:
            source.stop()


if __name__ == "__main__":
    main()
