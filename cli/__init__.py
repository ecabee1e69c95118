"""The `aitbc` command line."""
