"""The coordinator: job intake, API keys, miner registry and selection, receipts."""
