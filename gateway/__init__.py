"""The local OpenAI-compatible gateway: runs on the client's machine and holds the client's key."""
