"""`aitbc tx` and `aitbc query`: sign locally, talk straight to the node's RPC."""

from __future__ import annotations

import time
from typing import Any

import click

from aitbc import crypto, jobspec, tx as txlib
from aitbc.keyring import KeyError_
from aitbc.rpc import ChainError, NodeUnavailable, QueryFailed, RPCError
from aitbc.units import format_amount, parse_amount
from aitbc.cli.safe_text import inline
from aitbc.cli.context import CLIError, Context, NetworkError, Rejected, json_option, pass_ctx


def amount_arg(_ctx, _param, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_amount(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None


def resolve_address(ctx: Context, who: str) -> str:
    """An address as given, or the address of a key name."""
    if crypto.is_address(who):
        return who
    try:
        return ctx.keyring.get(who).address
    except KeyError_:
        raise CLIError(f"{who!r} is neither an address nor a key name (see `aitbc keys list`)") from None


def chain_query(ctx: Context, path: str) -> Any:
    try:
        return ctx.rpc.query(path)
    except NodeUnavailable as err:
        raise NetworkError(f"{err}\nIs the node running? (`aitbc node start`, or --node/AITBC_NODE)") from None
    except QueryFailed as err:
        raise CLIError(str(err)) from None
    except ChainError as err:
        raise CLIError(str(err)) from None


def send(ctx: Context, signer: str, kind: str, mode: str, memo: str = "", **fields: Any) -> dict[str, Any]:
    """Build, sign and broadcast a tx of `kind`; exits non-zero when rejected."""
    try:
        key = ctx.keyring.get(signer)
    except KeyError_ as err:
        raise CLIError(str(err)) from None
    params = chain_query(ctx, "/params")
    nonce = chain_query(ctx, f"/nonce/{key.address}")["nonce"]
    raw = txlib.build(key, params["chain_id"], nonce, kind, memo=memo, **fields)
    try:
        result = ctx.rpc.broadcast(raw, mode)
    except NodeUnavailable as err:
        raise NetworkError(str(err)) from None
    except RPCError as err:
        if "already exists in cache" in str(err):
            raise Rejected("the node has already seen this exact transaction (replay)") from None
        raise Rejected(str(err)) from None
    if not result.ok:
        raise Rejected(f"rejected: {result.code_name} (code {result.code}): {result.log}")
    out = {"hash": result.hash, "code": result.code, "height": result.height, "type": kind, "signer": key.address,
           "events": result.events}
    where = f" at height {result.height}" if result.height else " (in the mempool)"
    ctx.emit(out, f"{kind} {result.hash} accepted{where}")
    return out


MODE = click.option("--mode", type=click.Choice(["sync", "commit"]), default="commit", show_default=True,
                    help="broadcast_tx_sync returns after CheckTx; commit waits for the block.")
FROM = click.option("--from", "signer", default="alice", show_default=True, envvar="AITBC_FROM",
                    help="Key name or address that signs [env: AITBC_FROM]")


@click.group()
def tx() -> None:
    """Sign a transaction locally and broadcast it to the node."""


@tx.command("transfer")
@click.argument("to")
@click.argument("amount", callback=amount_arg)
@click.option("--memo", default="")
@FROM
@MODE
@json_option
@pass_ctx
def transfer(ctx: Context, to: str, amount: int, memo: str, signer: str, mode: str) -> None:
    """Send AMOUNT to TO (an address or key name); AMOUNT as 1.5, 1.5aitbc or 1500000uaitbc."""
    send(ctx, signer, "transfer", mode, memo=memo, to=resolve_address(ctx, to), amount=amount)


def _offer_options(f):
    for option in reversed([
        click.option("--model", "models", multiple=True, required=True, help="A model served (repeatable)."),
        click.option("--price", callback=amount_arg, default="0.02", show_default=True,
                     help="Price per compute second."),
        click.option("--capacity", default=1, show_default=True, help="Jobs run at once."),
        click.option("--endpoint", default="", help="Where the coordinator pushes assignments."),
    ]):
        f = option(f)
    return f


@tx.command("register-miner")
@click.option("--stake", callback=amount_arg, default="100", show_default=True)
@_offer_options
@FROM
@MODE
@json_option
@pass_ctx
def register_miner(ctx: Context, stake: int, models: tuple[str, ...], price: int, capacity: int, endpoint: str,
                   signer: str, mode: str) -> None:
    """Lock stake and register as a miner."""
    send(ctx, signer, "register_miner", mode, stake=stake, models=list(models), price_per_second=price,
         capacity=capacity, endpoint=endpoint)


@tx.command("update-miner")
@click.option("--add-stake", callback=amount_arg, default="0", show_default=True)
@_offer_options
@FROM
@MODE
@json_option
@pass_ctx
def update_miner(ctx: Context, add_stake: int, models: tuple[str, ...], price: int, capacity: int, endpoint: str,
                 signer: str, mode: str) -> None:
    """Replace the miner's offer; optionally lock more stake."""
    send(ctx, signer, "update_miner", mode, models=list(models), price_per_second=price, capacity=capacity,
         endpoint=endpoint, add_stake=add_stake)


@tx.command("unbond")
@FROM
@MODE
@json_option
@pass_ctx
def unbond(ctx: Context, signer: str, mode: str) -> None:
    """Return the whole stake and stop offering (refused while jobs are assigned)."""
    send(ctx, signer, "unbond", mode)


@tx.command("submit-job")
@click.option("--model", required=True)
@click.option("--prompt", required=True, help="Only its sha256 goes on chain.")
@click.option("--max-reward", callback=amount_arg, default="1", show_default=True, help="Locked in escrow.")
@click.option("--temperature", default=0.7, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--num-predict", default=128, show_default=True)
@click.option("--max-price", callback=amount_arg, default="0", show_default=True,
              help="Most accepted per compute second (0: no cap); miners above it are never assigned.")
@FROM
@MODE
@json_option
@pass_ctx
def submit_job(ctx: Context, model: str, prompt: str, max_reward: int, temperature: float, seed: int,
               num_predict: int, max_price: int, signer: str, mode: str) -> None:
    """Create a job on chain directly (no coordinator): locks MAX_REWARD."""
    send(ctx, signer, "submit_job", mode, job_type="inference", model=model,
         prompt_hash=jobspec.prompt_hash(prompt), prompt_bytes=len(prompt.encode()),
         max_reward=max_reward, max_price_per_second=max_price,
         options={"temperature_milli": jobspec.temperature_milli(temperature), "seed": seed,
                  "num_predict": num_predict})


@tx.command("cancel-job")
@click.argument("job_id")
@FROM
@MODE
@json_option
@pass_ctx
def cancel_job(ctx: Context, job_id: str, signer: str, mode: str) -> None:
    """Withdraw your job while it is not assigned: full refund."""
    send(ctx, signer, "cancel_job", mode, job_id=job_id)


@tx.command("assign-job")
@click.argument("job_id")
@click.argument("miner")
@click.option("--from", "signer", default="coordinator", show_default=True)
@MODE
@json_option
@pass_ctx
def assign_job(ctx: Context, job_id: str, miner: str, signer: str, mode: str) -> None:
    """(coordinator) Bind JOB_ID to MINER."""
    send(ctx, signer, "assign_job", mode, job_id=job_id, miner=resolve_address(ctx, miner))


@tx.command("fail-job")
@click.argument("job_id")
@click.option("--reason", default="")
@click.option("--from", "signer", default="coordinator", show_default=True)
@MODE
@json_option
@pass_ctx
def fail_job(ctx: Context, job_id: str, reason: str, signer: str, mode: str) -> None:
    """(coordinator or assigned miner) Fail JOB_ID: full refund."""
    send(ctx, signer, "fail_job", mode, job_id=job_id, reason=reason)


@tx.command("record-receipt")
@click.option("--proof", "proof_hex", required=True, help="ComputeProof bytes, hex.")
@click.option("--signature", "signature_hex", required=True, help="The miner's signature, hex.")
@click.option("--from", "signer", default="coordinator", show_default=True)
@MODE
@json_option
@pass_ctx
def record_receipt(ctx: Context, proof_hex: str, signature_hex: str, signer: str, mode: str) -> None:
    """(coordinator) Record a miner's signed compute proof: pays and refunds."""
    try:
        proof, signature = bytes.fromhex(proof_hex), bytes.fromhex(signature_hex)
    except ValueError:
        raise click.BadParameter("--proof and --signature must be hex") from None
    send(ctx, signer, "record_receipt", mode, proof=proof, miner_signature=signature)


# --- queries ---------------------------------------------------------------------

@click.group()
def query() -> None:
    """Read the chain's state through abci_query (text; --json for the JSON the node answers)."""


def record_lines(data: dict[str, Any]) -> str:
    """A record as aligned `key: value` lines, as the explorer prints them."""
    from aitbc.cli.explorer import record_text

    return record_text(data).replace("\n  ", "\n").removeprefix("  ")


def _show(ctx: Context, path: str, human=None) -> None:
    data = chain_query(ctx, path)
    ctx.emit(data, human(data) if human else None)


@query.command("account")
@click.argument("who")
@json_option
@pass_ctx
def account(ctx: Context, who: str) -> None:
    """Balance and nonce of an address or key name."""
    _show(ctx, f"/account/{resolve_address(ctx, who)}",
          lambda a: f"Address: {a['address']}\nBalance: {format_amount(a['balance'])}\nNonce:   {a['nonce']}")


@query.command("job")
@click.argument("job_id")
@json_option
@pass_ctx
def job(ctx: Context, job_id: str) -> None:
    """A job's on-chain record."""
    _show(ctx, f"/job/{job_id}", record_lines)


@query.command("receipt")
@click.argument("ident")
@json_option
@pass_ctx
def receipt(ctx: Context, ident: str) -> None:
    """A receipt by receipt id or job id."""
    _show(ctx, f"/receipt/{ident}", record_lines)


@query.command("miner")
@click.argument("who")
@json_option
@pass_ctx
def miner(ctx: Context, who: str) -> None:
    """A miner's record: stake, models, price, capacity, reputation."""
    _show(ctx, f"/miner/{resolve_address(ctx, who)}", record_lines)


@query.command("miners")
@json_option
@pass_ctx
def miners(ctx: Context) -> None:
    """All registered miners."""
    _show(ctx, "/miners", lambda ms: "\n".join(
        f"{inline(m['address'])}  stake {format_amount(m['stake'])}  price {format_amount(m['price_per_second'])}/s  "
        f"models {inline(','.join(m['models'])) or '-'}  jobs {m['active_jobs']}/{m['capacity']}  "
        f"done {m['completed']} failed {m['failed']} slashed {m.get('slashed', 0)}"
        + (f"  unbonding {format_amount(m['unbonding'])}" if m.get("unbonding") else "")
        + ("  jailed" if m.get("jailed_until_ns", 0) > time.time_ns() else "") for m in ms)
        or "no miners")


@query.command("params")
@json_option
@pass_ctx
def params(ctx: Context) -> None:
    """Chain parameters and the coordinator's address."""
    _show(ctx, "/params", record_lines)


@query.command("supply")
@json_option
@pass_ctx
def supply(ctx: Context) -> None:
    """Total supply, escrow, stake and circulating balances."""
    _show(ctx, "/supply", lambda s: "\n".join(f"{k + ':':<12} {format_amount(v)}" for k, v in sorted(s.items())))
