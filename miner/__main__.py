"""`python -m miner start|status`."""

from miner.cli import main

main()
