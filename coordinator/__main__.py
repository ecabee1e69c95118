"""python -m coordinator start|add-key ..."""

from coordinator.cli import main

main()
