"""The AITBC block explorer: decoded blocks, txs, jobs, receipts, accounts and
miners from any node's RPC, as a web page (`aitbc explorer serve`) and the CLI."""
