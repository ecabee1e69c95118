"""The generated tiny model: written, deterministic, readable back."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from gguf import GGUFReader

from aitbc.ops import tiny_model
from aitbc.ops.tiny_model import N_EMBD, N_LAYER, build_vocab, write_tiny_model


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_writes_file_and_returns_its_sha256(tmp_path: Path) -> None:
    out = tmp_path / "models" / "tiny.gguf"
    digest = write_tiny_model(out)
    assert out.is_file()
    assert digest == _sha256(out)
    assert 100_000 < out.stat().st_size < 5_000_000
    # no temporary file left behind
    assert [p.name for p in out.parent.iterdir()] == ["tiny.gguf"]


def test_deterministic_across_paths(tmp_path: Path) -> None:
    assert write_tiny_model(tmp_path / "a.gguf") == write_tiny_model(tmp_path / "b.gguf")


def test_idempotent_rewrite_keeps_file(tmp_path: Path) -> None:
    out = tmp_path / "tiny.gguf"
    digest = write_tiny_model(out)
    os.utime(out, (1, 1))  # an old mtime shows whether the file was replaced
    assert write_tiny_model(out) == digest
    assert out.stat().st_mtime == 1


def test_replaces_a_different_file(tmp_path: Path) -> None:
    out = tmp_path / "tiny.gguf"
    out.write_bytes(b"not a model")
    digest = write_tiny_model(out)
    assert _sha256(out) == digest


def test_reader_sees_keys_and_tensors(tmp_path: Path) -> None:
    out = tmp_path / "tiny.gguf"
    write_tiny_model(out)
    reader = GGUFReader(out)
    fields = {name: field.contents() for name, field in reader.fields.items()}
    assert fields["general.architecture"] == "llama"
    assert fields["tokenizer.ggml.model"] == "llama"
    assert fields["llama.embedding_length"] == N_EMBD
    assert fields["llama.block_count"] == N_LAYER
    assert fields["llama.attention.head_count"] > 0
    assert fields["llama.rope.dimension_count"] == N_EMBD // fields["llama.attention.head_count"]

    tokens = fields["tokenizer.ggml.tokens"]
    assert tokens[:3] == ["<unk>", "<s>", "</s>"]
    assert {f"<0x{b:02X}>" for b in range(256)} <= set(tokens)
    assert "\u2581the" in tokens
    assert len(tokens) == len(set(tokens))
    assert len(fields["tokenizer.ggml.scores"]) == len(tokens)
    assert len(fields["tokenizer.ggml.token_type"]) == len(tokens)

    tensors = {t.name: t for t in reader.tensors}
    expected = {"token_embd.weight", "output_norm.weight", "output.weight"}
    for i in range(N_LAYER):
        parts = "attn_norm attn_q attn_k attn_v attn_output ffn_norm ffn_gate ffn_up ffn_down"
        expected |= {f"blk.{i}.{part}.weight" for part in parts.split()}
    assert set(tensors) == expected
    assert tensors["token_embd.weight"].data.shape == (len(tokens), N_EMBD)
    assert np.isfinite(tensors["output.weight"].data).all()


def test_output_bias_favours_whole_words() -> None:
    tokens, _, _, bias = build_vocab()
    favoured = {t for t, b in zip(tokens, bias, strict=True) if b > 0}
    assert "</s>" not in favoured and "<0x41>" not in favoured
    assert "\u2581the" in favoured and "\u2581th" not in favoured


def test_cli_prints_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.gguf"
    assert tiny_model.main(["--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert out.is_file()
