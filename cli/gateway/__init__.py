"""`aitbc gateway` and `aitbc chat`: the local OpenAI-compatible gateway and a terminal chat on its logic.

Commands of the root group itself, like the job commands: main.py registers each of COMMANDS.
"""

from __future__ import annotations

from aitbc.cli.gateway.chat import chat
from aitbc.cli.gateway.serve import gateway

COMMANDS = (gateway, chat)
