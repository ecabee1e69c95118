"""The AITBC miner: runs inference jobs on a local Ollama server."""
