"""Verify a receipt: signatures, hashes and arithmetic offline, the chain's record online.

A receipt bundle (what `aitbc receipt export` writes) holds the chain id, the
on-chain receipt, the miner's public key, and when known the result text, the
prompt and the job record. Job and receipt ids only name a job on one chain:
the chain id says which, and the miner signed it into the proof. Everything but the comparison with the chain can be
checked without a network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aitbc import crypto, jobspec, tx as txlib
from aitbc.audit import UNPAID_CHECKS, billed_ms


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    detail: str = ""


def verify_offline(bundle: dict[str, Any]) -> list[Finding]:
    """Every check that needs no network."""
    receipt = bundle["receipt"]
    findings: list[Finding] = []
    add = lambda check, ok, detail="": findings.append(Finding(check, bool(ok), detail))  # noqa: E731
    public_key = bytes.fromhex(bundle.get("miner_public_key", ""))
    add("miner key matches the miner's address", crypto.address_of(public_key) == receipt["miner"],
        f"address of key {crypto.address_of(public_key)}, receipt says {receipt['miner']}")
    proof_bytes, signature = bytes.fromhex(receipt["proof"]), bytes.fromhex(receipt["miner_signature"])
    add("miner's signature over the proof", txlib.verify_proof(public_key, proof_bytes, signature),
        "" if crypto.chain_rule_loaded() else "checked with libsodium, which refuses a few crafted signatures "
        "the chain accepts (its ed25519 library is not installed here: `make setup`)")
    proof = txlib.decode_proof(proof_bytes)
    if "chain_id" in bundle:  # bundles exported before chain ids were added have none: the proof's stands
        add("bundle's chain id equals the signed proof's", bundle["chain_id"] == proof.chain_id,
            f"the bundle says {bundle['chain_id']!r}, the miner signed {proof.chain_id!r}")
    fields = {
        "job id": (proof.job_id, receipt["job_id"]),
        "miner": (proof.miner, receipt["miner"]),
        "result hash": (proof.result_hash.hex(), receipt["result_hash"]),
        "compute time": (proof.compute_time_ms, receipt["compute_time_ms"]),
        "model digest": (proof.model_digest, receipt.get("model_digest", "")),
        "prompt hash": (proof.prompt_hash.hex(), receipt.get("prompt_hash", "")),
        "options": ((proof.options.temperature_milli, proof.options.seed, proof.options.num_predict),
                    (receipt.get("temperature_milli"), receipt.get("seed"), receipt.get("num_predict"))),
    }
    for name, (signed, recorded) in fields.items():
        add(f"signed {name} equals the receipt's", signed == recorded, f"signed {signed!r}, receipt {recorded!r}")
    if bundle.get("result") is not None:
        add("result text hashes to the result hash",
            jobspec.result_hash(bundle["result"]).hex() == receipt["result_hash"])
    if bundle.get("prompt") is not None:
        add("prompt hashes to the prompt hash",
            jobspec.prompt_hash(bundle["prompt"]).hex() == receipt.get("prompt_hash"))
    job = bundle.get("job")
    if receipt.get("check_status") in UNPAID_CHECKS:
        add("a result proven wrong or contradicted was not paid", receipt["amount_paid"] == 0)
    elif job is not None:
        due = min(billed_ms(receipt) * receipt["price_per_second"] // 1000, job["max_reward"])
        add("payment = billed time x price, capped at the escrow", receipt["amount_paid"] == due,
            f"paid {receipt['amount_paid']}, due {due}")
    return findings


def chain_of(bundle: dict[str, Any]) -> str:
    """The chain a bundle says it is from, else the one its miner signed into the proof."""
    if bundle.get("chain_id"):
        return bundle["chain_id"]
    try:
        return txlib.decode_proof(bytes.fromhex(bundle["receipt"]["proof"])).chain_id
    except (KeyError, ValueError, txlib.DecodeError):
        return ""


def verify_online(bundle: dict[str, Any], rpc) -> list[Finding]:
    """Compare the bundle with the chain: its chain id, the receipt, the job, and the tx that recorded it."""
    receipt = bundle["receipt"]
    findings = []
    node_chain = rpc.status()["node_info"]["network"]
    findings.append(Finding("the node is on the bundle's chain", node_chain == chain_of(bundle),
                            f"the node is on {node_chain!r}, the receipt is from {chain_of(bundle)!r}"))
    on_chain = rpc.query(f"/receipt/{receipt['id']}")
    findings.append(Finding("receipt equals the chain's record", on_chain == receipt,
                            "" if on_chain == receipt else "fields differ from the chain's copy"))
    miner = rpc.query(f"/miner/{receipt['miner']}")
    findings.append(Finding("miner key is the one registered on chain",
                            miner["public_key"] == bundle.get("miner_public_key")))
    found = rpc.tx_search(f"receipt.id='{receipt['id']}'")
    heights = {int(t["height"]) for t in found.get("txs", [])}
    findings.append(Finding("recording tx found at the receipt's height", receipt["block_height"] in heights,
                            f"found at {sorted(heights)}"))
    return findings
