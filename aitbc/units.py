"""Amounts: integers of uaitbc in state, AITBC strings for people.

1 AITBC = 1 000 000 uaitbc. Decimal parsing only, never floats.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

UAITBC_PER_AITBC = 1_000_000


def parse_amount(text: str) -> int:
    """Parse '1.5', '1.5aitbc', '1500000uaitbc' into uaitbc; ValueError if invalid."""
    raw = text.strip().lower().replace(" ", "")
    if raw.endswith("uaitbc"):
        number, scale = raw[: -len("uaitbc")], 1
    else:
        number, scale = raw.removesuffix("aitbc"), UAITBC_PER_AITBC
    try:
        value = Decimal(number) * scale
    except InvalidOperation:
        raise ValueError(f"not an amount: {text!r} (use e.g. 1.5, 1.5aitbc or 1500000uaitbc)") from None
    if value != value.to_integral_value() or value < 0:
        raise ValueError(f"amount {text!r} is negative or finer than 1 uaitbc")
    return int(value)


def format_amount(uaitbc: int) -> str:
    """uaitbc as an AITBC string with no trailing zeros: 250000 -> '0.25 AITBC'."""
    text = f"{Decimal(uaitbc) / UAITBC_PER_AITBC:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} AITBC"
