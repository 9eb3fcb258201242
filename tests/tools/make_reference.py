#!/usr/bin/env python3
"""Writes small random Hugging Face checkpoints with reference logits from
transformers, in the layout of ../shared/fixtures (reference.json +
reference.safetensors), for the checkpoint variants pcache must load: other
GQA ratios, rope bases and scalings, head tying, biases, dtypes, sharding.

The Llama 3 and Qwen 2 variants also get what those checkpoints ship instead of
tokenizer.model: a byte-level BPE tokenizer.json trained here with `tokenizers`
on the real pre-tokenizer settings, tokenizer_config.json (or
chat_template.jinja) with the real chat templates, generation_config.json, and
tokenizer_reference.json: texts with the ids, pieces and decoding `tokenizers`
gives, and conversations rendered by transformers' apply_chat_template
(tests/tools/bpe_reference.py writes those).

Runs where transformers is installed (the GPU machine); the output is committed
under tests/fixtures/hf-variants/ and checked by ctest with `pcache verify`.

    python3 tests/tools/make_reference.py OUT_DIR [VARIANT ...]
"""
import json
import zlib
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import (LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM,
                          Qwen2Config, Qwen2ForCausalLM)

VOCAB = 1000
VARIANTS = {
    # GQA 4:1, head_dim not hidden/heads, a large rope base, float16 weights.
    "llama-gqa4-fp16": dict(
        arch="llama", hidden_size=64, intermediate_size=96, num_hidden_layers=2,
        num_attention_heads=8, num_key_value_heads=2, head_dim=16,
        rope={"rope_type": "default", "rope_theta": 500000.0}, dtype=torch.float16),
    # Tied head, llama3 rope scaling, bfloat16 weights in several shards.
    "llama-tied-llama3-bf16": dict(
        arch="llama", hidden_size=48, intermediate_size=64, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=4, tie_word_embeddings=True,
        rope={"rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0, "low_freq_factor": 1.0,
              "high_freq_factor": 4.0, "original_max_position_embeddings": 16},
        dtype=torch.bfloat16, shard="60KB"),
    # Attention and MLP biases, linear rope scaling, float32.
    "llama-bias-linear-fp32": dict(
        arch="llama", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, attention_bias=True, mlp_bias=True,
        rope={"rope_type": "linear", "rope_theta": 10000.0, "factor": 2.0}, dtype=torch.float32),
    # Mistral with single-KV-head GQA 6:1 and head_dim 8.
    "mistral-gqa6-fp32": dict(
        arch="mistral", hidden_size=48, intermediate_size=80, num_hidden_layers=2,
        num_attention_heads=6, num_key_value_heads=1, head_dim=8,
        rope={"rope_type": "default", "rope_theta": 1e6}, dtype=torch.float32),
    # Llama 3.1 as published: tokenizer.json only, llama3 rope scaling, untied head, GQA,
    # bfloat16, the chat template in chat_template.jinja.
    "llama3-bpe-bf16": dict(
        arch="llama", tokenizer="llama3", hidden_size=32, intermediate_size=64,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        rope={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
              "high_freq_factor": 4.0, "original_max_position_embeddings": 32},
        dtype=torch.bfloat16),
    # Qwen 2.5 as published: tokenizer.json only (NFC), q/k/v biases, tied head, sliding
    # window off, a config vocabulary larger than the tokenizer's.
    "qwen2-bpe-tied-fp32": dict(
        arch="qwen2", tokenizer="qwen2", hidden_size=32, intermediate_size=64,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        tie_word_embeddings=True, rope={"rope_type": "default", "rope_theta": 1000000.0},
        dtype=torch.float32),
}
ARCHS = {
    "llama": (LlamaConfig, LlamaForCausalLM),
    "mistral": (MistralConfig, MistralForCausalLM),
    "qwen2": (Qwen2Config, Qwen2ForCausalLM),
}

CASES = [
    ("prefill", list(range(24))),
    ("gapped", list(range(8)) + list(range(15, 27))),
    ("prefix", list(range(16))),
    ("suffix", list(range(40, 46))),
]
# The same cases, shorter: for a checkpoint with a real vocabulary (32768 logits a position),
# whose reference is shipped beside it.
SHORT_CASES = [
    ("prefill", list(range(6))),
    ("gapped", list(range(3)) + list(range(9, 12))),
    ("prefix", list(range(4))),
    ("suffix", list(range(20, 22))),
]


def write_reference(folder, model_cls, dtype, name, vocab, cases=CASES):
    """reference.safetensors + reference.json for the checkpoint in `folder`, as the shared
    fixtures were made: loaded in its own dtype, then computed in float32."""
    model = model_cls.from_pretrained(folder, dtype=dtype).float().eval()
    gen = torch.Generator().manual_seed(7)
    tensors, cache = {}, None
    with torch.no_grad():
        for case, positions in cases:
            ids = torch.randint(3, vocab, (1, len(positions)), generator=gen)
            pos = torch.tensor([positions])
            if case == "suffix":
                out_ = model(input_ids=ids, position_ids=pos, past_key_values=cache, use_cache=True)
            else:
                out_ = model(input_ids=ids, position_ids=pos, use_cache=True)
                cache = out_.past_key_values if case == "prefix" else None
            tensors[f"{case}.input_ids"] = ids
            tensors[f"{case}.position_ids"] = pos
            tensors[f"{case}.logits"] = out_.logits.float().contiguous()
    save_file(tensors, os.path.join(folder, "reference.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(folder, "reference.json"), "w") as f:
        json.dump({"model": name, "class": model_cls.__name__, "weights_dtype": str(dtype),
                   "cases": [{"case": "prefill"}, {"case": "gapped"}, {"case": "prefix+suffix"}],
                   "note": "written by tests/tools/make_reference.py; logits in float32"}, f, indent=1)


def build(name, spec, out):
    torch.manual_seed(zlib.crc32(name.encode()))
    spec = dict(spec)
    arch, rope, dtype, shard = spec.pop("arch"), spec.pop("rope"), spec.pop("dtype"), spec.pop("shard", None)
    family = spec.pop("tokenizer", None)
    config_cls, model_cls = ARCHS[arch]
    folder = os.path.join(out, name)
    os.makedirs(folder, exist_ok=True)
    vocab, cases, extra = VOCAB, CASES, {}
    if family:
        import bpe_reference  # beside this file; needs `tokenizers`
        vocab, extra = bpe_reference.write_tokenizer(folder, family)
        cases = SHORT_CASES
    config = config_cls(vocab_size=vocab, rms_norm_eps=1e-5, initializer_range=0.2,
                        rope_parameters=rope, **extra, **spec)
    model = model_cls(config).to(dtype)
    model.save_pretrained(folder, max_shard_size=shard or "1GB")
    if family:
        bpe_reference.write_generation_config(folder, family)
    write_reference(folder, model_cls, dtype, name, vocab, cases)
    if family:
        bpe_reference.write_tokenizer_reference(folder, family)
    print(name, "->", folder)


if __name__ == "__main__":
    out = sys.argv[1]
    only = sys.argv[2:]
    os.makedirs(out, exist_ok=True)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    for name, spec in VARIANTS.items():
        if not only or name in only:
            build(name, spec, out)
