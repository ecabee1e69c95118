"""Protobuf's unsigned varint, which the app reads and writes by hand: the socket's
length prefixes (server.py) and FinalizeBlock's answer (block_answer.py)."""

from __future__ import annotations

SMALL_VARINTS = [bytes((n,)) for n in range(0x80)]  # the varint of each value under 0x80


def encode_varint(value: int) -> bytes:
    """The varint of `value` (>= 0). Raises ValueError for a negative value."""
    if 0 <= value < 0x80:
        return SMALL_VARINTS[value]
    if value < 0:
        raise ValueError(f"a varint is not negative: {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(buf: bytes | bytearray, pos: int) -> tuple[int, int] | None:
    """(value, next position), or None when the buffer ends inside the varint."""
    result = shift = 0
    while pos < len(buf):
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")
    return None
