"""`aitbc chat`: a conversation in the terminal, each turn one marketplace job, streamed.

It runs the gateway's logic in-process (no HTTP server): the same mapping,
submission and receipt check as `aitbc gateway`. Answers are untrusted text
from a miner: everything printed goes through safe_text.
"""

from __future__ import annotations

import sys

import click

from aitbc import jobspec, units
from aitbc.cli import safe_text
from aitbc.cli.context import Context, pass_ctx
from aitbc.cli.gateway.options import open_gateway, payment_options
from aitbc.gateway.core import Answer, Delta, Gateway, Rewrite
from aitbc.gateway.errors import GatewayError
from aitbc.gateway.mapping import chat_job
from aitbc.gateway.openai_models import ChatCompletionRequest

QUIT = ("/exit", "/quit")


class TokenPrinter:
    """Streamed text to stdout, made safe; a CR at a chunk's end waits for a possible LF."""

    def __init__(self) -> None:
        self._held = ""

    def write(self, text: str) -> None:
        text = self._held + text
        text, self._held = (text[:-1], "\r") if text.endswith("\r") else (text, "")
        sys.stdout.write(safe_text.terminal(text))
        sys.stdout.flush()

    def end(self) -> None:
        self.write("")
        sys.stdout.write(safe_text.terminal(self._held) + "\n")
        self._held = ""
        sys.stdout.flush()


def turn_summary(answer: Answer) -> str:
    return (f"[job {answer.job_id} · receipt {answer.receipt_id} · {answer.usage.completion_tokens} tokens · "
            f"cost {units.format_amount(answer.cost)} + fee {units.format_amount(answer.fee)}]")


def run_turn(gateway: Gateway, request: ChatCompletionRequest) -> Answer:
    """One streamed turn: print the tokens as they come; the Answer, checked against its receipt."""
    spec = chat_job(request)
    job_id = gateway.submit(spec)
    printer = TokenPrinter()
    for item in gateway.follow(spec, job_id):
        if isinstance(item, Delta):
            printer.write(item.text)
        elif isinstance(item, Rewrite):
            printer.end()
            click.secho("[the miner's proven answer differs from what was streamed; it is:]", err=True, dim=True)
            printer.write(item.text)
        elif isinstance(item, Answer):
            printer.end()
            return item
    raise AssertionError("Gateway.follow ends with an Answer or raises")


def read_line(prompt: str) -> str | None:
    """A line from stdin (the prompt on stderr when interactive); None at end of input."""
    if sys.stdin.isatty():
        click.echo(prompt, nl=False, err=True)
    line = sys.stdin.readline()
    return None if not line else line.rstrip("\n")


@click.command("chat")
@click.option("--model", required=True, help="Model to talk to (see `aitbc gateway` /v1/models or `aitbc query miners`).")
@click.option("--system", "system_prompt", default=None, help="A system message to start the conversation with.")
@click.option("--max-tokens", type=click.IntRange(1, jobspec.MAX_NUM_PREDICT), default=jobspec.DEFAULT_NUM_PREDICT,
              show_default=True, help="Most tokens per answer.")
@click.option("--temperature", type=click.FloatRange(0, jobspec.MAX_TEMPERATURE), default=jobspec.DEFAULT_TEMPERATURE,
              show_default=True)
@click.option("--seed", type=click.IntRange(0, jobspec.MAX_SEED), default=0, show_default=True,
              help="0: one derived from each job's id.")
@payment_options
@pass_ctx
def chat(ctx: Context, model: str, system_prompt: str | None, max_tokens: int, temperature: float, seed: int,
         key_name: str, max_reward: str, max_price: str, timeout: float) -> None:
    """Chat with MODEL in the terminal; each turn is one job paid by KEY, streamed as it is generated.

    Type a message and press Enter; Ctrl-D or /exit quits. After each answer,
    its job, receipt and cost go to stderr; the answer was checked against the
    receipt on chain (--node) before the next prompt.
    """
    gateway = open_gateway(ctx, key_name, max_reward, max_price, timeout)
    messages: list[dict[str, str]] = [{"role": "system", "content": system_prompt}] if system_prompt else []
    try:
        while (line := read_line("> ")) is not None:
            if line.strip() in QUIT:
                break
            if not line.strip():
                continue
            request = ChatCompletionRequest(model=model, messages=[*messages, {"role": "user", "content": line}],
                                            max_tokens=max_tokens, temperature=temperature, seed=seed or None,
                                            stream=True)
            try:
                answer = run_turn(gateway, request)
            except GatewayError as err:
                # The turn is dropped from the conversation: ask again or go on.
                click.secho(f"error: {safe_text.terminal(err.message)}", err=True, fg="red")
                continue
            messages += [{"role": "user", "content": line}, {"role": "assistant", "content": answer.text}]
            click.secho(safe_text.inline(turn_summary(answer)), err=True, dim=True)
    except KeyboardInterrupt:
        click.echo("", err=True)
    finally:
        gateway.close()
