"""Dev and ops tooling: node homes, testnets, process harnesses, the pinned binaries, the tiny model."""
