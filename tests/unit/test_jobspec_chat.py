"""The canonical chat prompt: one text per chat, so its sha256 is the chat's prompt hash."""

from __future__ import annotations

import json

import pytest

from aitbc import jobspec, tx as txlib

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "Grüße, 世界 \"q\"\n"}]


def test_chat_prompt_is_canonical_json_and_round_trips() -> None:
    text = jobspec.chat_prompt(MESSAGES, ["\n\n"])
    assert text == json.dumps({"messages": MESSAGES, "stop": ["\n\n"]}, sort_keys=True, separators=(",", ":"),
                              ensure_ascii=False)
    assert "Grüße" in text and " " not in text.replace("be brief", "").replace(" 世界 ", "")
    assert jobspec.parse_chat_prompt(text) == (MESSAGES, ["\n\n"])
    assert jobspec.chat_prompt(MESSAGES) == jobspec.chat_prompt(MESSAGES, [])  # no stop = empty list


def test_same_chat_same_hash_whatever_the_key_order() -> None:
    reordered = [{"content": m["content"], "role": m["role"]} for m in MESSAGES]
    assert jobspec.prompt_hash(jobspec.chat_prompt(reordered)) == jobspec.prompt_hash(jobspec.chat_prompt(MESSAGES))


@pytest.mark.parametrize("text", [
    "not json",
    "[]",
    '{"messages":[{"content":"x","role":"user"}]}',                               # no stop
    '{"messages":[],"stop":[]}',                                                  # no message
    '{"messages":[{"content":"x","role":"robot"}],"stop":[]}',                   # bad role
    '{"messages":[{"content":1,"role":"user"}],"stop":[]}',                      # content not text
    '{"messages":[{"content":"x","name":"a","role":"user"}],"stop":[]}',         # extra field
    '{"messages":[{"content":"x","role":"user"}],"stop":[""]}',                  # empty stop
    '{"messages":[{"content":"x","role":"user"}],"stop":[],"x":1}',              # extra key
    '{"stop":[],"messages":[{"content":"x","role":"user"}]}',                    # keys not sorted
    '{"messages": [{"content":"x","role":"user"}],"stop":[]}',                   # spaces
    '{"messages":[{"content":"\\u00e9","role":"user"}],"stop":[]}',              # escaped UTF-8
])
def test_anything_but_the_canonical_form_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        jobspec.parse_chat_prompt(text)


def test_chat_prompt_refuses_a_bad_role() -> None:
    with pytest.raises(ValueError, match="role"):
        jobspec.chat_prompt([{"role": "tool", "content": "x"}])


def test_chain_accepts_chat_jobs() -> None:
    assert txlib.JOB_TYPES == jobspec.JOB_TYPES == ("inference", "chat")
