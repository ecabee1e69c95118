"""python -m aitbc.coordinator start|add-key ..."""

from aitbc.coordinator.cli import main

main()
