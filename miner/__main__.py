"""`python -m aitbc.miner start|status`."""

from aitbc.miner.cli import main

main()
