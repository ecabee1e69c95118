"""Shared building blocks of AITBC: keys, transactions, amounts, chain RPC client."""
