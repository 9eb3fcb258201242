#!/usr/bin/env python3
"""Train pcache's small demo model (issue 7) on the GPU machine: torch + transformers.

A Mistral-architecture model (tied embeddings, about 14M parameters, the Mistral v0.3
tokenizer) learns the synthetic restaurant conversations of tools/restaurant_data.py: answer
only from the restaurant notes in the system turn. Examples are tokenized as pcache's mistral
chat template does (bos, [INST], system + "\\n\\n" + user, [/INST], answer, eos), and the loss
counts the answer fully and the prompt at a small weight.

Writes a Hugging Face checkpoint folder (config.json, model.safetensors in bfloat16,
tokenizer.model, reference logits for `pcache verify`) and the loss curve (loss.json, and a PNG
when matplotlib is there).

  python3 tools/restaurant_data.py --out data --train 20000 --eval 400
  python3 tools/train_model.py --data data --tokenizer .device-deps/fixtures/tiny-mistral/tokenizer.model \\
      --out models/pcache-demo --minutes 8

Status: written for the GPU machine's torch 2.11 + transformers 5; not yet run (see the
session note of issue 7).
"""
import argparse
import json
import math
import os
import random
import shutil
import time

import torch


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="folder with train.jsonl")
    ap.add_argument("--tokenizer", required=True, help="the Mistral v0.3 tokenizer.model")
    ap.add_argument("--out", required=True, help="checkpoint folder to write")
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--ffn", type=int, default=768)
    ap.add_argument("--max-len", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--minutes", type=float, default=8.0, help="training time budget")
    ap.add_argument("--prompt-weight", type=float, default=0.1, help="loss weight of prompt tokens")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--loss-png", default="docs/img/demo-model-loss.png")
    return ap.parse_args()


def encode_examples(path, sp, max_len):
    inst, end_inst = sp.piece_to_id("[INST]"), sp.piece_to_id("[/INST]")
    bos, eos = sp.bos_id(), sp.eos_id()
    out = []
    with open(path) as f:
        for line in f:
            ex = json.loads(line)
            prompt = [bos, inst] + sp.encode(ex["system"] + "\n\n" + ex["user"]) + [end_inst]
            answer = sp.encode(ex["answer"]) + [eos]
            ids = prompt + answer
            if len(ids) > max_len:
                continue  # the notes would be cut: skip rather than teach from half a context
            out.append((ids, len(prompt)))
    return out


def batches(examples, batch, rng):
    while True:
        rng.shuffle(examples)
        for i in range(0, len(examples) - batch + 1, batch):
            yield examples[i:i + batch]


def collate(chunk, prompt_weight, device):
    n = max(len(ids) for ids, _ in chunk)
    tokens = torch.zeros(len(chunk), n, dtype=torch.long)
    weights = torch.zeros(len(chunk), n)
    for r, (ids, prompt_len) in enumerate(chunk):
        tokens[r, :len(ids)] = torch.tensor(ids)
        weights[r, :prompt_len] = prompt_weight
        weights[r, prompt_len:len(ids)] = 1.0
    # Position t predicts token t + 1: the weight of the predicted token counts.
    return tokens.to(device), weights[:, 1:].to(device)


def main():
    args = parse_args()
    import sentencepiece
    import transformers

    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    sp = sentencepiece.SentencePieceProcessor(model_file=args.tokenizer)
    examples = encode_examples(os.path.join(args.data, "train.jsonl"), sp, args.max_len)
    print(f"{len(examples)} training examples")
    config = transformers.MistralConfig(
        vocab_size=sp.get_piece_size(), hidden_size=args.hidden, intermediate_size=args.ffn,
        num_hidden_layers=args.layers, num_attention_heads=args.heads, num_key_value_heads=args.kv_heads,
        head_dim=args.hidden // args.heads, max_position_embeddings=32768,
        rope_parameters={"rope_type": "default", "rope_theta": 1e6},
        rms_norm_eps=1e-5, tie_word_embeddings=True, sliding_window=None, bos_token_id=sp.bos_id(),
        eos_token_id=sp.eos_id())
    device = "cuda"
    model = transformers.MistralForCausalLM(config).to(device)
    params = sum(p.numel() for p in model.parameters())
    print(f"{params / 1e6:.1f}M parameters ({params * 2 / 2**20:.1f} MiB in bfloat16)")
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)
    budget = args.minutes * 60
    warmup = 100
    losses = []
    start = time.time()
    step = 0
    model.train()
    for chunk in batches(examples, args.batch, rng):
        elapsed = time.time() - start
        if elapsed > budget:
            break
        # Warm-up, then cosine decay over the time budget.
        frac = min(1.0, elapsed / budget)
        lr = args.lr * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        tokens, weights = collate(chunk, args.prompt_weight, device)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = model(input_ids=tokens).logits[:, :-1].float()
        nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), tokens[:, 1:].reshape(-1),
                                                reduction="none").view_as(weights)
        loss = (nll * weights).sum() / weights.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 50 == 0:
            losses.append({"step": step, "seconds": round(elapsed, 1), "loss": loss.item(), "lr": lr})
            print(f"step {step} {elapsed:.0f}s loss {loss.item():.4f} lr {lr:.2e}", flush=True)
        step += 1
    os.makedirs(args.out, exist_ok=True)
    model.to(torch.bfloat16).save_pretrained(args.out)  # safetensors
    shutil.copy(args.tokenizer, os.path.join(args.out, "tokenizer.model"))
    # Reference logits from transformers, so that `pcache verify` checks the shipped model.
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "tools"))
    from make_reference import write_reference
    write_reference(args.out, transformers.MistralForCausalLM, torch.bfloat16, "pcache-demo", config.vocab_size)
    with open(os.path.join(args.out, "loss.json"), "w") as f:
        json.dump({"steps": step, "minutes": round((time.time() - start) / 60, 2), "curve": losses}, f, indent=1)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot([p["step"] for p in losses], [p["loss"] for p in losses])
        ax.set_xlabel("step")
        ax.set_ylabel("training loss (weighted)")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        os.makedirs(os.path.dirname(args.loss_png) or ".", exist_ok=True)
        fig.savefig(args.loss_png, dpi=120)
    except ImportError:
        print("matplotlib missing: loss curve kept in loss.json only")
    print(f"wrote {args.out} after {step} steps")


if __name__ == "__main__":
    main()
