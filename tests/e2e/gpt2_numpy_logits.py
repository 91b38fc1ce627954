#!/usr/bin/env python3
"""gpt2_numpy_logits.py — an independent GPT-2 forward pass in NumPy (float64) over exported files.

Reads either a Hugging Face directory (config.json + model.safetensors, parsed here from the byte layout:
8-byte little-endian header length, JSON header, raw little-endian data) or an llm.c fp32 model file
(int32 header[256], then the tensors in llm.c's order), computes GPT2LMHeadModel's logits for the given
tokens, and prints them (one line per position, vocab_size values) or compares them with another
implementation's printed logits.

usage: gpt2_numpy_logits.py (--hf DIR | --llmc FILE) --tokens 1,2,3 [--compare LOGITS.txt --tol 1e-4]
Exit 0 when printed or when every |ours - theirs| <= tol * max(1, |ours|); 1 otherwise.
"""
import argparse
import json
import math
import struct
import sys

import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    dtypes = {"F32": "<f4", "F16": "<f2", "F64": "<f8"}
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        begin, end = e["data_offsets"]
        out[name] = np.frombuffer(data[base + begin:base + end], dtype=dtypes[e["dtype"]]).reshape(e["shape"]).astype(np.float64)
    return out


def load_hf(directory):
    """HF GPT2LMHeadModel weights: Conv1D matrices are (in, out), used as x @ W."""
    with open(directory + "/config.json") as f:
        cfg = json.load(f)
    assert cfg["activation_function"] in ("gelu_new", "gelu_pytorch_tanh") and abs(cfg["layer_norm_epsilon"] - 1e-5) < 1e-12
    raw = read_safetensors(directory + "/model.safetensors")
    w = {k[len("transformer."):] if k.startswith("transformer.") else k: v for k, v in raw.items()}
    return cfg["n_layer"], cfg["n_head"], w


def load_llmc(path):
    """llm.c fp32 model: matrices are (out, in) (nn.Linear); transposed here to HF's (in, out)."""
    with open(path, "rb") as f:
        header = np.frombuffer(f.read(1024), dtype="<i4")
        params = np.frombuffer(f.read(), dtype="<f4").astype(np.float64)
    assert header[0] == 20240326 and header[1] == 3, "not an llm.c fp32 model file"
    T, V, L, NH, C, Vp = (int(x) for x in header[2:8])
    sizes = [("wte", (Vp, C)), ("wpe", (T, C)), ("ln1w", (L, C)), ("ln1b", (L, C)), ("qkvw", (L, 3 * C, C)),
             ("qkvb", (L, 3 * C)), ("attprojw", (L, C, C)), ("attprojb", (L, C)), ("ln2w", (L, C)), ("ln2b", (L, C)),
             ("fcw", (L, 4 * C, C)), ("fcb", (L, 4 * C)), ("fcprojw", (L, C, 4 * C)), ("fcprojb", (L, C)),
             ("lnfw", (C,)), ("lnfb", (C,))]
    p, off = {}, 0
    for name, shape in sizes:
        n = int(np.prod(shape))
        p[name] = params[off:off + n].reshape(shape)
        off += n
    assert off == params.size, "file size does not match the header"
    w = {"wte.weight": p["wte"][:V], "wpe.weight": p["wpe"], "ln_f.weight": p["lnfw"], "ln_f.bias": p["lnfb"]}
    names = [("ln1w", "ln_1.weight", False), ("ln1b", "ln_1.bias", False), ("qkvw", "attn.c_attn.weight", True),
             ("qkvb", "attn.c_attn.bias", False), ("attprojw", "attn.c_proj.weight", True),
             ("attprojb", "attn.c_proj.bias", False), ("ln2w", "ln_2.weight", False), ("ln2b", "ln_2.bias", False),
             ("fcw", "mlp.c_fc.weight", True), ("fcb", "mlp.c_fc.bias", False),
             ("fcprojw", "mlp.c_proj.weight", True), ("fcprojb", "mlp.c_proj.bias", False)]
    for l in range(L):
        for ours, hf, matrix in names:
            w[f"h.{l}.{hf}"] = p[ours][l].T if matrix else p[ours][l]
    return L, NH, w


def layernorm(x, g, b):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-5) * g + b


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def logits(L, NH, w, tokens):
    T = len(tokens)
    x = w["wte.weight"][tokens] + w["wpe.weight"][:T]
    C = x.shape[1]
    hs = C // NH
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for l in range(L):
        p = lambda n: w[f"h.{l}.{n}"]
        h = layernorm(x, p("ln_1.weight"), p("ln_1.bias"))
        qkv = h @ p("attn.c_attn.weight") + p("attn.c_attn.bias")
        q, k, v = (qkv[:, i * C:(i + 1) * C].reshape(T, NH, hs).transpose(1, 0, 2) for i in range(3))
        att = q @ k.transpose(0, 2, 1) / math.sqrt(hs) + mask
        att = np.exp(att - att.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        y = (att @ v).transpose(1, 0, 2).reshape(T, C)
        x = x + y @ p("attn.c_proj.weight") + p("attn.c_proj.bias")
        h = layernorm(x, p("ln_2.weight"), p("ln_2.bias"))
        x = x + gelu_tanh(h @ p("mlp.c_fc.weight") + p("mlp.c_fc.bias")) @ p("mlp.c_proj.weight") + p("mlp.c_proj.bias")
    x = layernorm(x, w["ln_f.weight"], w["ln_f.bias"])
    return x @ w["wte.weight"].T


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--hf")
    src.add_argument("--llmc")
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--compare")
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    L, NH, w = load_hf(a.hf) if a.hf else load_llmc(a.llmc)
    tokens = [int(t) for t in a.tokens.split(",")]
    ours = logits(L, NH, w, tokens)
    if not a.compare:
        for row in ours:
            print(" ".join("%.9g" % v for v in row))
        return 0
    theirs = np.loadtxt(a.compare, ndmin=2)
    if theirs.shape != ours.shape:
        print(f"shape {theirs.shape} in {a.compare}; expected {ours.shape}", file=sys.stderr)
        return 1
    err = np.abs(ours - theirs) / np.maximum(1.0, np.abs(ours))
    print(f"numpy reference vs {a.compare}: {ours.shape[0]} positions x {ours.shape[1]} logits, "
          f"max error {err.max():.3g} (tolerance {a.tol:g}), logits in [{ours.min():.3f}, {ours.max():.3f}]")
    return 0 if err.max() <= a.tol else 1


if __name__ == "__main__":
    sys.exit(main())
