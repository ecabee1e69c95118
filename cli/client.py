"""The flowchart's `python3 cli/client.py --url ... --api-key ... submit inference ...`:
the same `aitbc` command, runnable as a script."""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aitbc.cli.main import main  # noqa: E402

if __name__ == "__main__":
    main()
