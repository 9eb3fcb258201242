#!/usr/bin/env python3
"""Train pcache's small demo model (issue 7) on the GPU machine (torch, plus transformers to
save and check the checkpoint).

A Mistral-architecture model (tied embeddings, about 14M parameters, the Mistral v0.3
tokenizer) learns the synthetic restaurant conversations of tools/restaurant_data.py: answer
only from the restaurant notes in the system turn. Fresh examples are drawn as it trains
(DataLoader workers), each laid out one of two ways, as pcache lays them out:
  chat  bos [INST] system + "\\n\\n" + user [/INST] answer eos        (Engine::generate_chat)
  pml   bos [INST] instructions | overview | hours | menu ... (gap) [/INST] [INST] user [/INST]
        answer eos: every text run tokenized on its own, and a random gap in the position ids
        before the closing [/INST], as a union of restaurants leaves one (docs/pml.md, Layout)
The loss counts every answer token, and a random eighth of the prompt tokens at a small weight.

--variant local also shows half of the pml examples with the attention of pcache's
`independent` encoding: each restaurant's overview, hours and menu see only the instructions,
their own text and (hours and menu) their restaurant's overview; the closing [/INST] sees the
instructions only; the question and answer see everything. A model trained so has seen
independently encoded modules before.

The tokenizer is tools/demo_tokenizer.model: the Mistral v0.3 tokenizer pruned to the 3662
pieces the data uses (tools/prune_tokenizer.py says why). 15% of the examples are tokenized with
BPE-dropout, so that the pieces a new word may end on are trained too. The defaults are those
chosen for demo model v2 (issue 15): the `local` variant, 8 layers, hidden 384, 12 query and 4 K/V heads of 32,
SwiGLU 1024, 14.0M parameters, lr 2e-3. Every 200 steps the weights are checked; if a loss
spike has made them NaN, training goes back to the last good ones with the learning rate halved
(a first run at lr 3e-3 diverged at step ~1450 and saved a NaN model).

--data v3 trains on the v3 data of tools/restaurant_data.py (wider styles, balanced allergen and
policy answers): tried for issue 15 and not shipped (docs/accuracy.md, "Demo model v3 attempt").
--data v4 is the v2 data with made-up names in a share of the restaurants (copy, do not recall);
--decision-weight weighs an answer's first token (yes, no, "I'm sorry") more than the rest.
--data v5 is the v2 data with allergen and policy answers that copy before they answer
(restaurant_data.allergen_answer; "Our notes say: ..."), the house style `--answers quote`.
--data v6 (tried, not shipped) is the v2 data with made-up names in 20% of the restaurants and 12%
of look-ups in lists of made-up keys and values from the tokenizer's whole vocabulary; --data v7
(not trained yet) keeps 5% of those look-ups and no made-up names. --data v8 is the v2 data with
30% drills: policy, allergen, has_dish and open_day questions over only the part of the notes that
answers them (restaurant_data.drill_task); --data v9 has half drills; --data v10 is v9 with more
allergen and has_dish drills; --data v11 adds drills that copy unfamiliar names and numbers;
--data v12 draws half of v11's non-drill examples in v3's wider styles (for continuing v11);
--data v13 (continuing v12) adds times and prices in made-up formats, to be copied.
--data v14 (the shipped model, continuing v13) adds names one step from familiar ones, to be copied.
--data v15 (continuing v14; tried, not shipped) adds menus in made-up layouts and questions worded
from parts. --data "v2:0.3,v9:0.3,v14:0.4" draws the named sets in turn, each for its share of the
run's time (one cosine schedule over all; a chain of continued runs in one).
--init DIR continues training from a model folder's weights (its config.json sets the shape).
Without transformers (the CPU machine) the model folder is written without the check and the
reference logits; there --max-example-tokens keeps the CPU's slow attention on short examples.
Several GPUs: torchrun --nproc_per_node=N (or TRAIN_GPUS=N bash bench/run_gpu.sh train).

The model is written out as a Hugging Face checkpoint (config.json, model.safetensors in
bfloat16, tokenizer.model), then loaded back with transformers, whose logits must match the
trained model's (the check that the weights mean what their names say), and reference logits
from transformers are stored for `pcache verify`. The loss curve goes to loss.json
(--loss-png, or tools/plot_loss.py, draws it).

  python3 tools/train_model.py --tokenizer tools/demo_tokenizer.model --out /tmp/models/pcache-demo \\
      --minutes 7.5   # or: TRAIN_MINUTES=7.5 bash bench/run_gpu.sh train
"""
import argparse
import json
import math
import multiprocessing
import os
import random
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import restaurant_data  # noqa: E402

# Token roles for the attention of the `local` variant (see module docstring).
ROOT, ROOT_AFTER, OVERVIEW, HOURS, MENU, OPEN = range(6)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", required=True, help="the Mistral v0.3 tokenizer.model")
    ap.add_argument("--out", required=True, help="checkpoint folder to write")
    ap.add_argument("--variant", choices=["causal", "local"], default="local")
    ap.add_argument("--hidden", type=int, default=384)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--kv-heads", type=int, default=4)
    ap.add_argument("--ffn", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=96)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--check-every", type=int, default=200,
                    help="steps between checks that the weights are finite (else: back to the last good ones, lr halved)")
    ap.add_argument("--minutes", type=float, default=7.0, help="training time budget")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: time only)")
    ap.add_argument("--prompt-weight", type=float, default=0.2, help="loss weight of prompt tokens")
    ap.add_argument("--prompt-sample", type=float, default=0.125, help="share of prompt tokens in the loss")
    ap.add_argument("--pml-share", type=float, default=0.5, help="share of restaurant examples laid out as PML")
    ap.add_argument("--bpe-dropout-share", type=float, default=0.15,
                    help="share of examples tokenized with BPE-dropout (each merge skipped with --bpe-dropout)")
    ap.add_argument("--bpe-dropout", type=float, default=0.1)
    ap.add_argument("--data", type=data_spec, default="v2",
                    help="training data of tools/restaurant_data.py (its TRAINING_DATA): v2 or a later set "
                         "(its docstring and docs/accuracy.md), or stages in turn over the training time, "
                         "\"v2:0.2,v9:0.3,v14:0.5\" (each set's share of the time)")
    ap.add_argument("--decision-weight", type=float, default=1.0,
                    help="loss weight of an answer's first token, which decides yes, no or 'not in the notes' "
                         "(the other answer tokens weigh 1)")
    ap.add_argument("--heldout-n", type=int, default=60, help="questions per layout in the final held-out check (0: none)")
    ap.add_argument("--workers", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--loss-png", help="also draw the loss curve here (needs matplotlib)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model (torch 2; shapes dynamic)")
    ap.add_argument("--init", type=model_folder, help="start from this model folder's weights (its config.json sets the shape): "
                                   "training continued")
    ap.add_argument("--max-example-tokens", type=int, default=0,
                    help="draw again any example longer than this (0: no limit); the CPU's attention is slow on long ones")
    ap.add_argument("--profile", type=int, default=0,
                    help="profile this many steps after 20 warm-up steps (torch.profiler: the operations that "
                         "take the time, and the step time), then stop without saving")
    return ap.parse_args()


# ---------------------------------------------------------------------------------------------
# Data: examples laid out as token ids, position ids, loss weights and attention roles.

class Layout:
    def __init__(self):
        self.ids, self.pos, self.role, self.group, self.weight = [], [], [], [], []

    def add(self, ids, role, group=0, weight=0.0, gap=0):
        start = (self.pos[-1] + 1 + gap) if self.pos else 0
        self.ids += ids
        self.pos += range(start, start + len(ids))
        self.role += [role] * len(ids)
        self.group += [group] * len(ids)
        self.weight += [weight] * len(ids)


def lay_out(ex, sp, rng, pml_share, local_share, prompt_weight, dropout_share=0.0, dropout=0.1, decision_weight=1.0):
    inst, end_inst = sp.piece_to_id("[INST]"), sp.piece_to_id("[/INST]")
    # BPE-dropout (a share of examples): merges skipped at random, so that the pieces BPE merges
    # through, which a new word may end on, are trained too (tools/prune_tokenizer.py).
    if dropout_share and rng.random() < dropout_share:
        enc = lambda s: sp.encode(s, enable_sampling=True, alpha=dropout, nbest_size=-1)
    else:
        enc = sp.encode
    out = Layout()
    w = prompt_weight
    if "modules" not in ex or rng.random() >= pml_share:
        out.add([sp.bos_id(), inst] + enc(ex["system"] + "\n\n" + ex["user"]) + [end_inst], OPEN, weight=w)
    else:
        local = rng.random() < local_share
        role = (lambda r: r) if local else (lambda r: OPEN)
        out.add([sp.bos_id(), inst] + enc(ex["instructions"]), role(ROOT), weight=w)
        for g, (overview, hours, menu) in enumerate(ex["modules"], start=1):
            out.add(enc(overview), role(OVERVIEW), g, w)
            out.add(enc(hours), role(HOURS), g, w)
            out.add(enc(menu), role(MENU), g, w)
        out.add([end_inst], role(ROOT_AFTER), weight=w, gap=rng.choice([0, 0, rng.randint(1, 64)]))
        out.add([inst] + enc(ex["user"]) + [end_inst], OPEN, weight=w)
    first = len(out.ids)
    out.add(enc(ex["answer"]) + [sp.eos_id()], OPEN, weight=1.0)
    out.weight[first] = decision_weight
    return out


def model_folder(path):
    """--init, checked as argparse reads it: a folder this trainer (or transformers) wrote."""
    missing = [f for f in ("config.json", "model.safetensors") if not os.path.isfile(os.path.join(path, f))]
    if missing:
        raise argparse.ArgumentTypeError(f"{path}: no {' or '.join(missing)} (a model folder that train_model.py "
                                         "wrote; one left on a device machine is gone once the machine goes back)")
    return path


def data_spec(spec):
    """--data, checked as argparse reads it (restaurant_data.parse_curriculum)."""
    try:
        restaurant_data.parse_curriculum(spec)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return spec


class Examples(torch.utils.data.IterableDataset):
    """Endless padded batches of fresh examples; each worker has its own seed. Each example is drawn
    from the training set of the curriculum's current stage, `stage` (a multiprocessing.Value the
    training loop sets and the loader's workers, forked, read; `stages` as parse_curriculum gives them)."""

    def __init__(self, args, stages, stage):
        self.args = args
        self.stages = stages
        self.stage = stage

    def __iter__(self):
        import sentencepiece
        info = torch.utils.data.get_worker_info()
        a = self.args
        rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
        rng = random.Random(a.seed * 1000 + rank * 100 + (info.id if info else 0))
        sp = sentencepiece.SentencePieceProcessor(model_file=a.tokenizer)
        local_share = 0.5 if a.variant == "local" else 0.0
        while True:
            # Eight batches at a time, of examples of similar length: little padding.
            rows = []
            while len(rows) < 8 * a.batch:
                data = restaurant_data.TRAINING_DATA[self.stages[self.stage.value][0]]
                row = lay_out(restaurant_data.example(rng, **data), sp, rng,
                              a.pml_share, local_share, a.prompt_weight, a.bpe_dropout_share, a.bpe_dropout,
                              a.decision_weight)
                if not a.max_example_tokens or len(row.ids) <= a.max_example_tokens:
                    rows.append(row)
            rows.sort(key=lambda r: len(r.ids))
            chunks = [rows[i:i + a.batch] for i in range(0, len(rows), a.batch)]
            rng.shuffle(chunks)
            for chunk in chunks:
                yield collate(chunk, a.prompt_sample, rng)


def collate(rows, prompt_sample, rng):
    """Padded [B, T] tensors, and the loss terms: `pick`, flat indices into [B, T] of the
    positions whose next token counts (every answer token, weight 1 or more, and a
    `prompt_sample` share of the prompt's), with that token (`target`) and its weight. Chosen
    here, on the host, so that the training step never waits for the GPU to learn how many there
    are."""
    n = max(len(r.ids) for r in rows)
    out = {k: torch.zeros(len(rows), n, dtype=torch.long) for k in ("ids", "pos", "role", "group")}
    w = torch.zeros(len(rows), n)
    for i, r in enumerate(rows):
        for k in ("ids", "pos", "role", "group"):
            out[k][i, :len(r.ids)] = torch.tensor(getattr(r, k))
        w[i, :len(r.ids)] = torch.tensor(r.weight)
        out["role"][i, len(r.ids):] = OPEN
    # Position t predicts token t + 1, with that token's weight.
    nxt_w = torch.zeros_like(w)
    nxt_w[:, :-1] = w[:, 1:]
    gen = torch.Generator().manual_seed(rng.randrange(2**62))
    keep = (nxt_w >= 1.0) | ((nxt_w > 0) & (torch.rand(w.shape, generator=gen) < prompt_sample))
    pick = keep.flatten().nonzero().flatten()
    nxt_ids = torch.zeros_like(out["ids"])
    nxt_ids[:, :-1] = out["ids"][:, 1:]
    out["pick"], out["target"], out["weight"] = pick, nxt_ids.flatten()[pick], nxt_w.flatten()[pick]
    return out


def attention_mask(role, group):
    """[B, 1, T, T] bool (True = may attend): causal, narrowed by the roles of `local` rows."""
    t = role.size(1)
    causal = torch.ones(t, t, dtype=torch.bool, device=role.device).tril()
    qr, kr = role[:, :, None], role[:, None, :]
    same = group[:, :, None] == group[:, None, :]
    visible = ((qr == OPEN) | (kr == ROOT) | ((qr == kr) & same)
               | (((qr == HOURS) | (qr == MENU)) & (kr == OVERVIEW) & same))
    return (causal & visible)[:, None]


# ---------------------------------------------------------------------------------------------
# Model: Mistral, with the parameter names of transformers' MistralForCausalLM.

class RMSNorm(torch.nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        xf = x.float()
        return self.weight * (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype)


class Attention(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = c["heads"], c["kv_heads"], c["hidden"] // c["heads"]
        self.q_proj = torch.nn.Linear(c["hidden"], self.heads * self.head_dim, bias=False)
        self.k_proj = torch.nn.Linear(c["hidden"], self.kv_heads * self.head_dim, bias=False)
        self.v_proj = torch.nn.Linear(c["hidden"], self.kv_heads * self.head_dim, bias=False)
        self.o_proj = torch.nn.Linear(self.heads * self.head_dim, c["hidden"], bias=False)

    def forward(self, x, cos, sin, mask):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)     # [B, H, T, D]
        k = self.k_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)  # [B, Hkv, T, D]
        v = self.v_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        rep = self.heads // self.kv_heads
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)      # [B, H, T, D]
        if hasattr(F, "scaled_dot_product_attention"):
            y = (F.scaled_dot_product_attention(q, k, v, is_causal=True) if mask is None
                 else F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
        else:  # torch 1.x (the CPU machines): the same, spelled out
            if mask is None:
                mask = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
            s = (q @ k.transpose(-1, -2)) / math.sqrt(self.head_dim)
            y = s.masked_fill(~mask, float("-inf")).softmax(-1) @ v
        return self.o_proj(y.transpose(1, 2).reshape(b, t, -1))


def rope(x, cos, sin):  # x: [B, H, T, D]; cos, sin: [B, 1, T, D]
    half = x.size(-1) // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return (x.float() * cos + rotated.float() * sin).to(x.dtype)


class MLP(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.gate_proj = torch.nn.Linear(c["hidden"], c["ffn"], bias=False)
        self.up_proj = torch.nn.Linear(c["hidden"], c["ffn"], bias=False)
        self.down_proj = torch.nn.Linear(c["ffn"], c["hidden"], bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self_attn, self.mlp = Attention(c), MLP(c)
        self.input_layernorm = RMSNorm(c["hidden"], c["eps"])
        self.post_attention_layernorm = RMSNorm(c["hidden"], c["eps"])

    def forward(self, x, cos, sin, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class Body(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = torch.nn.Embedding(c["vocab"], c["hidden"])
        self.layers = torch.nn.ModuleList(Layer(c) for _ in range(c["layers"]))
        self.norm = RMSNorm(c["hidden"], c["eps"])


class Mistral(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.model = Body(c)
        d = c["hidden"] // c["heads"]
        self.register_buffer("inv_freq", 1.0 / (c["rope_theta"] ** (torch.arange(0, d, 2).float() / d)),
                             persistent=False)
        for name, p in self.named_parameters():
            if p.dim() == 2:  # residual outputs scaled down with depth, as GPT-2 does
                std = 0.02 / math.sqrt(2 * c["layers"]) if name.endswith(("o_proj.weight", "down_proj.weight")) else 0.02
                torch.nn.init.normal_(p, std=std)

    def hidden(self, ids, pos, mask=None):
        """ids, pos: [B, T]; mask: [B, 1, T, T] bool or None (causal). Returns [B, T, hidden],
        normed."""
        freqs = pos[:, :, None].float() * self.inv_freq                              # [B, T, D/2]
        emb = torch.cat([freqs, freqs], dim=-1)[:, None]                              # [B, 1, T, D]
        cos, sin = emb.cos(), emb.sin()
        x = self.model.embed_tokens(ids)
        for layer in self.model.layers:
            x = layer(x, cos, sin, mask)
        return self.model.norm(x)

    def head(self, h):
        return h @ self.model.embed_tokens.weight.t()                                 # tied: [..., V]

    def forward(self, ids, pos, mask=None, pick=None):
        """Logits [B, T, V]; with `pick` (flat indices into [B, T]), only those rows: [N, V]."""
        h = self.hidden(ids, pos, mask)
        if pick is not None:
            h = h.reshape(-1, h.size(-1)).index_select(0, pick)
        return self.head(h)


def load_folder(path, sp):
    """The Mistral of a model folder (config.json, model.safetensors), float32 on the CPU."""
    with open(os.path.join(path, "config.json")) as f:
        hf = json.load(f)
    model = Mistral({"vocab": sp.get_piece_size(), "hidden": hf["hidden_size"], "layers": hf["num_hidden_layers"],
                     "heads": hf["num_attention_heads"], "kv_heads": hf["num_key_value_heads"],
                     "ffn": hf["intermediate_size"], "eps": hf["rms_norm_eps"],
                     "rope_theta": (hf.get("rope_parameters") or hf)["rope_theta"]})
    weights = read_safetensors(os.path.join(path, "model.safetensors"))
    weights.pop("lm_head.weight", None)  # tied: the embedding
    model.load_state_dict({k: v.float() for k, v in weights.items()})
    return model


def bfloat16_on_gpu(device):
    """Autocast to bfloat16 on CUDA; float32 elsewhere."""
    return torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=device.startswith("cuda"))


# ---------------------------------------------------------------------------------------------
# Held-out check during training (greedy, no cache: the model is small).

@torch.no_grad()
def heldout_accuracy(model, sp, device, n, quote, seed=12345):
    """Exact match on held-out restaurants, laid out as chat, as pml, and as pml with the
    attention of independent encoding; and on restaurants in held-out styles (chat). `quote`: the
    answers in the house style of the v5 data."""
    rng = random.Random(seed)
    model.eval()
    scores = {}
    for name, pml, local, styles in (("chat", 0.0, 0.0, False), ("pml", 1.0, 0.0, False),
                                     ("pml_local", 1.0, 1.0, False), ("heldout_styles_chat", 0.0, 0.0, True),
                                     ("heldout_styles_pml_local", 1.0, 1.0, True)):
        r2 = random.Random(seed)
        right = 0
        for _ in range(n):
            ex = restaurant_data.example(r2, restaurant_data.HELDOUT_OWNERS, instruct_share=0.0, chat_share=0.0,
                                         heldout=styles, wide=False, quote=quote)  # the v2 questions
            lay = lay_out(dict(ex, answer=""), sp, random.Random(rng.random()), pml, local, 0.0)
            ids, pos, role, group = lay.ids[:-1], lay.pos[:-1], lay.role[:-1], lay.group[:-1]  # drop eos
            got = []
            for _ in range(48):
                t = lambda v: torch.tensor([v], device=device)
                mask = attention_mask(t(role), t(group)) if local else None
                with bfloat16_on_gpu(device):
                    nxt = int(model(t(ids), t(pos), mask)[0, -1].argmax())
                if nxt == sp.eos_id():
                    break
                got.append(nxt)
                ids, pos, role, group = ids + [nxt], pos + [pos[-1] + 1], role + [OPEN], group + [0]
            right += sp.decode(got).strip() == ex["answer"]
        scores[name] = round(100.0 * right / n, 1)
    model.train()
    return scores


# ---------------------------------------------------------------------------------------------

def hf_config(c, sp):
    """The arguments of transformers' MistralConfig for shape c (config.json's fields)."""
    return {"vocab_size": c["vocab"], "hidden_size": c["hidden"], "intermediate_size": c["ffn"],
            "num_hidden_layers": c["layers"], "num_attention_heads": c["heads"], "num_key_value_heads": c["kv_heads"],
            "head_dim": c["hidden"] // c["heads"], "max_position_embeddings": 32768,
            "rope_parameters": {"rope_type": "default", "rope_theta": c["rope_theta"]},
            "rms_norm_eps": c["eps"], "tie_word_embeddings": True, "sliding_window": None,
            "bos_token_id": sp.bos_id(), "eos_token_id": sp.eos_id()}


SAFETENSORS_DTYPES = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32}


def read_safetensors(path):
    """{name: tensor} of a safetensors file (the dtypes the demo models use), without the
    safetensors package (the CPU machines have none)."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        dtype = SAFETENSORS_DTYPES[info["dtype"]]
        raw = torch.frombuffer(bytearray(data[begin:end]), dtype=torch.uint8)
        out[name] = raw.view(dtype).reshape(info["shape"])
    return out


def write_safetensors(path, tensors):
    """tensors ({name: tensor}) in bfloat16, as transformers' save_pretrained writes them."""
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in tensors.items():
        blob = t.detach().to(torch.bfloat16).contiguous().view(torch.int16).numpy().tobytes()
        header[name] = {"dtype": "BF16", "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text + b"".join(blobs))


def save_plain(model, sp, args):
    """Without transformers (the CPU machines): the weights, config.json and the tokenizer. Not
    checked against transformers and no reference logits: `pcache verify` cannot check this
    folder until a machine with transformers writes them."""
    import shutil
    os.makedirs(args.out, exist_ok=True)
    write_safetensors(os.path.join(args.out, "model.safetensors"), model.state_dict())
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump({"architectures": ["MistralForCausalLM"], "model_type": "mistral", "hidden_act": "silu",
                   "dtype": "bfloat16", **hf_config(model.c, sp)}, f, indent=2)
    shutil.copy(args.tokenizer, os.path.join(args.out, "tokenizer.model"))
    print(f"no transformers here: wrote {args.out} without the check or reference logits")


def save_and_check(model, sp, args):
    """Writes the checkpoint with transformers, loads it back, and compares logits (float32,
    the bfloat16 weights on both sides) on a gapped pml example."""
    import shutil
    import transformers
    os.makedirs(args.out, exist_ok=True)
    hf = transformers.MistralForCausalLM(transformers.MistralConfig(**hf_config(model.c, sp)))
    missing, unexpected = hf.load_state_dict(model.state_dict(), strict=False)
    if unexpected or set(missing) - {"lm_head.weight"}:
        raise SystemExit(f"parameter names differ from transformers': missing {missing}, unexpected {unexpected}")
    hf.tie_weights()
    hf.to(torch.bfloat16).save_pretrained(args.out)
    shutil.copy(args.tokenizer, os.path.join(args.out, "tokenizer.model"))
    loaded = transformers.MistralForCausalLM.from_pretrained(args.out, dtype=torch.bfloat16).float().eval()
    mine = Mistral(model.c)
    mine.load_state_dict({k: v.to(torch.bfloat16).float() for k, v in model.state_dict().items()})
    mine.eval()
    ex = restaurant_data.example(random.Random(7), restaurant_data.HELDOUT_OWNERS, instruct_share=0.0, chat_share=0.0,
                                 wide=False)
    lay = lay_out(ex, sp, random.Random(8), 1.0, 0.0, 0.0)
    ids, pos = torch.tensor([lay.ids]), torch.tensor([lay.pos])
    with torch.no_grad():
        a = mine(ids, pos)
        b = loaded(input_ids=ids, position_ids=pos).logits
    diff = (a - b).abs().max().item()
    print(f"transformers vs trained model, {ids.size(1)} gapped tokens: max |logit diff| {diff:.2e}")
    if not diff <= 1e-3 * max(1.0, a.abs().max().item()):  # NaN fails too
        raise SystemExit("the saved checkpoint does not compute what was trained")
    sys.path.insert(0, os.path.join(HERE, "..", "tests", "tools"))
    from make_reference import SHORT_CASES, write_reference
    write_reference(args.out, transformers.MistralForCausalLM, torch.bfloat16, os.path.basename(args.out),
                    model.c["vocab"], cases=SHORT_CASES)


class Profile:
    """--profile: torch.profiler over `steps` training steps from `first_step` on; at the end,
    the step time, the tokens a second and the operations that took the time."""

    def __init__(self, device, first_step, steps):
        self.cuda = device.startswith("cuda")
        self.first, self.last = first_step, first_step + steps
        activities = [torch.profiler.ProfilerActivity.CPU]
        if self.cuda:
            activities.append(torch.profiler.ProfilerActivity.CUDA)
        self.prof = torch.profiler.profile(activities=activities)
        self.tokens, self.started = 0, None

    def sync(self):
        if self.cuda:
            torch.cuda.synchronize()

    def count(self, batch):
        if self.started is not None:
            self.tokens += int(batch["ids"].numel())

    def at(self, step, waited):
        """Called before each step with the seconds waited for batches so far: True once the
        profile is done (and printed)."""
        if step == self.first:
            self.sync()
            self.prof.start()
            self.started, self.waited = time.time(), waited
        if step < self.last:
            return False
        self.sync()
        seconds = time.time() - self.started
        self.prof.stop()
        steps = self.last - self.first
        print(f"profile: {steps} steps in {seconds:.2f} s ({1e3 * seconds / steps:.1f} ms a step), "
              f"{self.tokens / seconds / 1e3:.0f}k padded tokens a second, {waited - self.waited:.2f} s of it "
              f"waiting for batches", flush=True)
        key = "self_cuda_time_total" if self.cuda else "self_cpu_time_total"
        print(self.prof.key_averages().table(sort_by=key, row_limit=30), flush=True)
        return True


def copy_state(state):
    """A deep copy of an optimizer's state_dict (tensors cloned where they are)."""
    if isinstance(state, torch.Tensor):
        return state.detach().clone()
    if isinstance(state, dict):
        return {k: copy_state(v) for k, v in state.items()}
    if isinstance(state, list):
        return [copy_state(v) for v in state]
    return state


def main():
    args = parse_args()
    import sentencepiece
    # Several GPUs (torchrun --nproc_per_node=N): data parallel, each rank with its own examples
    # and batch (the global batch is N x --batch); rank 0's clock decides the schedule and the
    # stop, and rank 0 alone logs, saves and checks.
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = 0
    if world > 1:
        gpu = args.device.startswith("cuda")
        torch.distributed.init_process_group("nccl" if gpu else "gloo")
        rank = torch.distributed.get_rank()
        if gpu:
            args.device = f"cuda:{int(os.environ['LOCAL_RANK'])}"
            torch.cuda.set_device(args.device)
    torch.manual_seed(args.seed)
    sp = sentencepiece.SentencePieceProcessor(model_file=args.tokenizer)
    if args.init:
        model = load_folder(args.init, sp)
        c = model.c
    else:
        c = {"vocab": sp.get_piece_size(), "hidden": args.hidden, "layers": args.layers, "heads": args.heads,
             "kv_heads": args.kv_heads, "ffn": args.ffn, "eps": 1e-5, "rope_theta": 1e6}
        model = Mistral(c)
    model = model.to(args.device)
    params = sum(p.numel() for p in model.parameters())
    if rank == 0:
        print(f"{args.variant}: {params / 1e6:.1f}M parameters ({params * 2 / 2**20:.1f} MiB in bfloat16), "
              f"data parallel over {world}", flush=True)
    step_model = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    if args.compile:
        if not hasattr(torch, "compile"):
            raise SystemExit(f"--compile needs torch 2 (this is {torch.__version__})")
        step_model = torch.compile(step_model, dynamic=True)
    if args.device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
    decay = [p for p in model.parameters() if p.dim() == 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), **({"fused": True} if args.device.startswith("cuda") else {}))
    stages = restaurant_data.parse_curriculum(args.data)
    stage = multiprocessing.Value("i", 0)
    loader = torch.utils.data.DataLoader(Examples(args, stages, stage), batch_size=None, num_workers=args.workers,
                                         **({"prefetch_factor": 4, "persistent_workers": True} if args.workers else {}))
    budget, warmup = args.minutes * 60, 200
    curve, tokens_seen, step, waited = [], 0, 0, 0.0
    # Divergence guard: every --check-every steps (one GPU sync) the weights are checked; finite,
    # they are kept as the last good ones; not finite (a loss spike gone to NaN), the model and the
    # optimizer go back to those and the learning rate is halved from then on.
    good, lr_scale, rollbacks = None, 1.0, []
    # The ranks agree on rank 0's clock over the CPU (gloo): no GPU sync in the step.
    clock = torch.distributed.new_group(backend="gloo") if world > 1 else None

    def on_all(value, op=None):
        """value (a float) as rank 0 has it, or summed over the ranks (op="sum")."""
        if clock is None:
            return value
        t = torch.tensor([float(value)], dtype=torch.float64)
        if op == "sum":
            torch.distributed.all_reduce(t, group=clock)
        else:
            torch.distributed.broadcast(t, 0, group=clock)
        return t.item()

    start = t_asked = time.time()
    model.train()
    profiled = Profile(args.device, first_step=20, steps=args.profile) if args.profile else None
    for batch in loader:
        waited += time.time() - t_asked  # for the next batch (before the ranks' clock: not data)
        if profiled and profiled.at(step, waited):
            return
        elapsed = on_all(time.time() - start)
        if elapsed > budget or (args.max_steps and step >= args.max_steps):
            break
        # Warm-up, then cosine decay to a tenth over the time budget.
        frac = min(1.0, elapsed / budget)
        if args.max_steps:
            frac = max(frac, step / args.max_steps)
        lr = lr_scale * args.lr * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        if stage.value != (now := restaurant_data.curriculum_stage(stages, frac)):
            stage.value = now  # the workers' batches already made stay as they were drawn
            if rank == 0:
                print(json.dumps({"step": step, "data": stages[now][0]}), flush=True)
        for g in opt.param_groups:
            g["lr"] = lr
        b = {k: v.to(args.device, non_blocking=True) for k, v in batch.items()}
        local_rows = bool((batch["role"] != OPEN).any())  # on the host batch: no GPU sync
        mask = attention_mask(b["role"], b["group"]) if local_rows else None
        # The head (32768 logits) runs only on the picked positions (see collate).
        with bfloat16_on_gpu(args.device):
            logits = step_model(b["ids"], b["pos"], mask, b["pick"]).float()                # [N, V]
        w = b["weight"]
        nll = F.cross_entropy(logits, b["target"], reduction="none")                        # [N]
        loss = (nll * w).sum() / w.sum()
        answer_loss = (nll * (w >= 1)).sum() / (w >= 1).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        tokens_seen += int(batch["ids"].count_nonzero())
        if profiled:
            profiled.count(batch)
        if step % 100 == 0:
            point = {"step": step, "seconds": round(elapsed, 1), "loss": round(loss.item(), 4),
                     "answer_loss": round(answer_loss.item(), 4), "lr": lr,
                     "tokens": int(on_all(tokens_seen, "sum")), "data_wait_s": round(waited, 1)}
            curve.append(point)
            if rank == 0:
                print(json.dumps(point), flush=True)
        step += 1
        if step % args.check_every == 0:
            if bool(torch.stack([torch.isfinite(p).all() for p in model.parameters()]).all()):
                good = ({k: v.detach().clone() for k, v in model.state_dict().items()}, copy_state(opt.state_dict()))
            elif good is not None:
                model.load_state_dict(good[0])
                opt.load_state_dict(copy_state(good[1]))
                lr_scale *= 0.5
                rollbacks.append(step)
                if rank == 0:
                    print(json.dumps({"step": step, "rollback": "weights not finite: back to the last good ones",
                                      "lr_scale": lr_scale}), flush=True)
            else:
                raise SystemExit(f"weights not finite at step {step}, before any good ones were kept")
        t_asked = time.time()
    minutes = (time.time() - start) / 60
    tokens_seen = int(on_all(tokens_seen, "sum"))
    if world > 1:
        torch.distributed.destroy_process_group()
        if rank != 0:
            return
    print(f"{args.variant}: {step} steps, {tokens_seen / 1e6:.0f}M tokens in {minutes:.1f} min", flush=True)
    # The checkpoint first, then the (slower) held-out check: a run cut short keeps its model.
    try:
        import transformers  # noqa: F401
    except ImportError:
        transformers = None
    if transformers:
        save_and_check(model.cpu(), sp, args)
    else:
        save_plain(model.cpu(), sp, args)
    record = {"variant": args.variant, "config": c, "args": vars(args), "gpus": world, "steps": step, "rollbacks": rollbacks,
              "minutes": round(minutes, 2), "tokens": tokens_seen, "curve": curve}
    with open(os.path.join(args.out, "loss.json"), "w") as f:
        json.dump(record, f, indent=1)
    if not args.heldout_n:
        print(f"wrote {args.out}")
        return
    record["heldout_exact_match"] = final = heldout_accuracy(model.to(args.device), sp, args.device, args.heldout_n,
                                                                restaurant_data.TRAINING_DATA[stages[-1][0]].get("quote", False))
    print(f"{args.variant}: held-out exact match {final}", flush=True)
    with open(os.path.join(args.out, "loss.json"), "w") as f:
        json.dump(record, f, indent=1)
    if args.loss_png:
        try:
            import plot_loss
            with open(os.path.join(args.out, "loss.json")) as f:
                plot_loss.plot([json.load(f)], [os.path.basename(args.out)], args.loss_png)
        except ImportError:
            print("no matplotlib here: draw the curve with tools/plot_loss.py")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
