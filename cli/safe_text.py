"""Text from other parties, made safe to print on a terminal.

A miner writes job results, a client writes memos, anyone registers model
names and endpoints, the coordinator writes error reasons. Printed raw, an
ESC or C1 byte starts an escape sequence (retitle the window, clear the
screen, hide text), a bidi override reorders what the reader sees, and an
embedded newline lets the text print a line of its own, such as a fake
`Status: completed`. Every printer of the CLI goes through this module:

- `inline(text)`: a one-line field (model, reason, memo, endpoint): every
  control character, newlines included, is shown as a visible escape (`\\x1b`).
- `block(label, text)`: a multi-line field (a result): lines are kept, but
  each one after the label is prefixed with `  | ` so none can pass for a
  label line, and the end is marked.
- `terminal(text)`: the last guard on a whole human answer (Context.emit,
  error messages): control characters but the newline become visible escapes.

`--json` output is not filtered: json.dumps escapes control characters
itself, so scripts get the exact text.
"""

from __future__ import annotations

import re

# C0 (TAB and LF are treated apart), DEL, C1, and the bidi embeddings, overrides and isolates.
_UNSAFE = "\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
_UNSAFE_RE = re.compile(f"[{_UNSAFE}]")
_UNSAFE_OR_NEWLINE_RE = re.compile(f"[{_UNSAFE}\n]")
BLOCK_PREFIX = "  | "


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def _normalise(text: str) -> str:
    # CR LF is a newline in any platform's text; a lone CR would move the cursor back over the line.
    return text.replace("\r\n", "\n").replace("\t", "    ")


def terminal(text: str) -> str:
    """`text` with every control character but the newline shown as an escape."""
    return _UNSAFE_RE.sub(_escape, _normalise(str(text)))


def inline(text: object) -> str:
    """A one-line field: newlines too become visible escapes."""
    return _UNSAFE_OR_NEWLINE_RE.sub(_escape, _normalise(str(text)))


def block(label: str, text: str) -> str:
    """`Label: text` for one safe line; otherwise every line prefixed and the end marked.

    A single line is printed as is (after `inline`), which keeps the flowchart's
    `Result: ...` line; the line itself is the boundary.
    """
    # A model's answer often ends with a newline: that is no line of its own.
    lines = terminal(text).rstrip("\n").split("\n")
    if len(lines) == 1:
        return f"{label}: {lines[0]}"
    return "\n".join([f"{label}: ({len(lines)} lines)"] + [BLOCK_PREFIX + line for line in lines]
                     + [f"  '-- end of {label.lower()}"])


def has_unsafe(text: str) -> bool:
    """Does `text` hold a character this module would escape (newlines aside)?"""
    return bool(_UNSAFE_RE.search(text))
