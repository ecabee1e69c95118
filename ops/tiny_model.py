"""A tiny, deterministic llama-architecture GGUF model for tests and the demo.

No model can be pulled from a registry here, so we write one with the PyPI
`gguf` package: random F32 weights from a fixed numpy seed (the file and its
sha256 are the same on every run and every machine), a SentencePiece-style
"llama" vocabulary of control tokens, the 256 byte-fallback tokens and some
English word pieces, and about 1 MB of weights so Ollama loads and runs it on
a CPU in milliseconds.

Random weights alone produce mostly byte tokens (often invalid UTF-8, which
the runner trims away) and an early `</s>`. The weights are therefore shaped
so that greedy decoding emits whole words: channel 0 of the residual stream
is a constant that no layer writes to, and column 0 of the output projection
turns it into a per-token bias (words up, everything else far down).

CLI: `python -m aitbc.ops.tiny_model --out build/models/aitbc-tiny.gguf`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
from pathlib import Path

import gguf
import numpy as np

SEED = 20240607
ARCH = "llama"
MODEL_NAME = "aitbc-tiny"

# Shape: head dimension 64 / 4 = 16 is even and equals the rope dimension.
N_EMBD = 64
N_HEAD = 4
N_LAYER = 2
N_FF = 128
N_CTX = 2048
RMS_EPS = 1e-5

# Channel 0 carries the constant that the output projection turns into a bias.
BIAS_CHANNEL = 0
BIAS_ACTIVATION = 8.0  # value of channel 0 in every token embedding
WORD_BIAS = 1.0  # output weight on channel 0 for tokens we want generated
OTHER_BIAS = -4.0  # ... and for control, byte and prefix tokens
RANDOM_SCALE = 0.35  # std of the other output weights: variety between words
# Ollama aborts a generation (HTTP 200, done=false, no counts) once the same
# token comes more than 30 times in a row, which greedy decoding of random
# weights easily does. Subtracting each token's own embedding from its output
# row makes the current token unlikely as the next one.
SELF_REPEAT_PENALTY = 0.2

WORDS = (
    "the of and to in is it that was for on are as with his they at be this "
    "from have or by one had not but what all were when we there can an your "
    "which their said if do will each about how up out them then she many some "
    "so these would other into has more her two like him see time could no "
    "make than first been its who now people my made over did down only way "
    "find use may water long little very after words called just where most "
    "know get through back much before go good new write our used me man too "
    "any day same right look think also around another came come work three "
    "word must because does part even place well such here take why things "
    "help put years different away again off went old number great tell men "
    "say small every found still between name should home big give air line "
    "set own under read last never us left end along while might next sound "
    "below saw something thought both few those always looked show large often "
    "together asked house world going want school important until form food "
    "keep children feet land side without boy once animals life enough took "
    "sometimes four head above kind began almost live page got earth need far "
    "hand high year mother light parts country father let night following "
    "picture being study second eyes soon times story boys since white days "
    "ever paper hard near sentence better best across during today others "
    "however sure means knew try told young miles sun ways thing whole hear "
    "example heard several change answer room sea against top turned learn "
    "point city play toward five using himself usually model chain block miner "
    "token proof market price job"
).split()
PUNCTUATION = (".", ",", "!", "?", ":", ";")
SPACE = "\u2581"  # SentencePiece's word-start marker, "▁"

# SentencePiece token types (gguf.TokenType values, spelled out for the reader).
T_NORMAL, T_UNKNOWN, T_CONTROL, T_BYTE = 1, 2, 3, 6


def build_vocab() -> tuple[list[str], list[float], list[int], np.ndarray]:
    """Return tokens, scores, token types and the per-token output bias.

    Every prefix of a word piece is in the vocabulary too, because the llama
    tokenizer only merges adjacent pieces whose concatenation is a token: this
    way a prompt made of these words tokenizes into words, not bytes.
    """
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [T_UNKNOWN, T_CONTROL, T_CONTROL] + [T_BYTE] * 256
    scores = [0.0] * len(tokens)
    wanted: list[bool] = [False] * len(tokens)

    words = [SPACE + w for w in dict.fromkeys(WORDS)] + list(PUNCTUATION)
    seen = set(tokens)
    # Single characters first: the merge loop starts from them.
    pieces = [SPACE] + sorted({c for w in words for c in w if c != SPACE})
    for w in words:
        pieces += [w[:i] for i in range(2, len(w) + 1)]
    whole = set(words)
    for piece in pieces:
        if piece in seen:
            continue
        seen.add(piece)
        tokens.append(piece)
        types.append(T_NORMAL)
        # Longer pieces score higher so the tokenizer prefers whole words.
        scores.append(float(len(piece)) - 20.0)
        wanted.append(piece in whole)
    bias = np.where(np.array(wanted), WORD_BIAS, OTHER_BIAS).astype(np.float32)
    return tokens, scores, types, bias


def _tensors(n_vocab: int, out_bias: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Random weights (fixed seed) shaped so greedy decoding yields words."""
    rng = np.random.default_rng(SEED)

    def rand(*shape: int, scale: float) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    embd = rand(n_vocab, N_EMBD, scale=1.0)
    embd[:, BIAS_CHANNEL] = BIAS_ACTIVATION
    out = rand(n_vocab, N_EMBD, scale=RANDOM_SCALE)
    out -= SELF_REPEAT_PENALTY * embd  # the residual stream carries embd[current]
    out[:, BIAS_CHANNEL] = out_bias
    ones = np.ones(N_EMBD, dtype=np.float32)

    tensors = [("token_embd.weight", embd)]
    proj = 1.0 / np.sqrt(N_EMBD)
    for i in range(N_LAYER):
        attn_out = rand(N_EMBD, N_EMBD, scale=proj)
        ffn_down = rand(N_EMBD, N_FF, scale=1.0 / np.sqrt(N_FF))
        # Layers must not write to the bias channel, so it stays constant.
        attn_out[BIAS_CHANNEL, :] = 0.0
        ffn_down[BIAS_CHANNEL, :] = 0.0
        tensors += [
            (f"blk.{i}.attn_norm.weight", ones.copy()),
            (f"blk.{i}.attn_q.weight", rand(N_EMBD, N_EMBD, scale=proj)),
            (f"blk.{i}.attn_k.weight", rand(N_EMBD, N_EMBD, scale=proj)),
            (f"blk.{i}.attn_v.weight", rand(N_EMBD, N_EMBD, scale=proj)),
            (f"blk.{i}.attn_output.weight", attn_out),
            (f"blk.{i}.ffn_norm.weight", ones.copy()),
            (f"blk.{i}.ffn_gate.weight", rand(N_FF, N_EMBD, scale=proj)),
            (f"blk.{i}.ffn_up.weight", rand(N_FF, N_EMBD, scale=proj)),
            (f"blk.{i}.ffn_down.weight", ffn_down),
        ]
    tensors += [("output_norm.weight", ones), ("output.weight", out)]
    return tensors


def _write(path: Path) -> None:
    """Write the model to `path` (overwriting it)."""
    tokens, scores, types, out_bias = build_vocab()
    w = gguf.GGUFWriter(str(path), ARCH)
    w.add_name(MODEL_NAME)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_vocab_size(len(tokens))
    w.add_context_length(N_CTX)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD)
    w.add_rope_dimension_count(N_EMBD // N_HEAD)
    w.add_layer_norm_rms_eps(RMS_EPS)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    for name, data in _tensors(len(tokens), out_bias):
        w.add_tensor(name, data)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_tiny_model(path: str | os.PathLike[str]) -> str:
    """Write the tiny model to `path` if missing or different; return its sha256.

    The model is written to a temporary file in the same directory first and
    moved into place atomically, so a reader never sees half a file and an
    identical existing file is left untouched (same mtime).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".tiny-", suffix=".gguf", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _write(tmp)
        tmp.chmod(0o644)  # mkstemp makes it 0600; the model is not a secret
        digest = sha256_file(tmp)
        if target.is_file() and sha256_file(target) == digest:
            return digest
        os.replace(tmp, target)
        return digest
    finally:
        tmp.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: write the model, print its path (sha256 on stderr)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="build/models/aitbc-tiny.gguf", help="output .gguf path")
    args = parser.parse_args(argv)
    digest = write_tiny_model(args.out)
    print(args.out)
    print(f"sha256:{digest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
