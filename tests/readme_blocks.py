"""The README's ```bash blocks, and the `aitbc ...` command lines in them, for the tests
that keep the README true (tests/unit/test_readme_commands.py, tests/integration/test_readme.py)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def bash_blocks(text: str | None = None) -> list[tuple[str, str]]:
    """(heading above it, body) of every ```bash block, in order."""
    text = README.read_text() if text is None else text
    blocks, heading = [], ""
    for match in re.finditer(r"^(#+ [^\n]*)$|^```bash\n(.*?)^```", text, re.M | re.S):
        if match.group(1):
            heading = match.group(1).lstrip("# ").strip()
        else:
            blocks.append((heading, match.group(2)))
    return blocks


def command_lines(block: str) -> list[list[str]]:
    """Every `aitbc ...` (or `python -m ...`, `scripts/aitbc-cli.sh ...`) command of a block, as
    tokens: comments dropped, `A && B`, `A · B` and `$(...)` split out, `[--opt X]` unbracketed."""
    commands: list[list[str]] = []
    for line in block.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        inner = re.search(r'\$\((.*?)\)', line)
        if inner:
            line = inner.group(1)
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError:
            continue
        segments, current = [], []
        for token in tokens:
            if token in ("&&", "·", "&", "|", ";"):
                segments.append(current)
                current = []
            else:
                current.append(token.strip("[]"))
        segments.append(current)
        prefix: list[str] = []
        for segment in filter(None, segments):
            while segment and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", segment[0]):
                segment = segment[1:]  # VAR=value before a command
            if not segment:
                continue
            if segment[0] == "scripts/aitbc-cli.sh":
                segment = ["aitbc", *segment[1:]]
            if segment[0] == "aitbc":
                prefix = segment[:2] if len(segment) > 2 else segment[:1]
                commands.append(segment)
            elif segment[:2] == ["python", "-m"]:
                commands.append(segment)
            elif prefix and segment[0][0].isalpha() and segment[0] not in (".", "export", "make", "eval"):
                commands.append([*prefix, *segment])  # "aitbc explorer blocks · block H · tx HASH"
    return [c for c in commands if c and c[0] in ("aitbc", "python")]
