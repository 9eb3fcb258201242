#!/usr/bin/env python3
"""Whether a demo model does the look-ups behind yes/no answers (docs/accuracy.md, "The look-ups
no model learned"): over drills of each kind (restaurant_data.drill_task: a restaurant in the v2
training styles, only the part of its notes that holds the answer, chat layout), the first answer
token ("Yes", "No", "I'm sorry") predicted from the prompt, against the gold one. Prints, per
kind, the mean loss of that token (a two-way guess costs ln 2 = 0.69) and how many were right,
by gold token. Needs torch and sentencepiece (the trainer's model, on the CPU).

  python3 tools/drill_check.py models/pcache-demo [--n 40] [--seed 11] [--kinds policy has_dish]
"""
import argparse
import collections
import math
import os
import random
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import restaurant_data  # noqa: E402
import train_model  # noqa: E402


def first_token_check(model, sp, kind, n, seed):
    """(mean loss of the gold first token, {gold piece: [right, asked]}) over n drills of kind."""
    rng, loss, right = random.Random(seed), 0.0, collections.defaultdict(lambda: [0, 0])
    asked = 0
    while asked < n:
        ex = restaurant_data.drill_task(rng)
        if ex["kind"] != kind:
            continue
        asked += 1
        lay = train_model.lay_out(ex, sp, random.Random(1), pml_share=0.0, local_share=0.0, prompt_weight=0.0)
        answer = sp.encode(ex["answer"])
        gold = answer[0]
        prompt = len(lay.ids) - len(answer) - 1  # the answer and eos follow the prompt
        with torch.no_grad():
            logp = model(torch.tensor([lay.ids[:prompt]]), torch.tensor([lay.pos[:prompt]]))[0, -1].log_softmax(-1)
        loss -= float(logp[gold])
        tally = right[sp.id_to_piece(gold)]
        tally[0] += int(logp.argmax()) == gold
        tally[1] += 1
    return loss / n, dict(right)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="model folder (config.json, model.safetensors, tokenizer.model)")
    ap.add_argument("--n", type=int, default=40, help="drills of each kind")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--kinds", nargs="+", default=sorted(restaurant_data.DRILL_KINDS),
                    choices=sorted(restaurant_data.DRILL_KINDS))
    args = ap.parse_args()
    import sentencepiece
    sp = sentencepiece.SentencePieceProcessor(model_file=os.path.join(args.model, "tokenizer.model"))
    model = train_model.load_folder(args.model, sp).eval()
    print(f"{args.model}: first answer token over {args.n} drills of each kind (seed {args.seed}); "
          f"a two-way guess costs {math.log(2):.2f}")
    for kind in args.kinds:
        loss, right = first_token_check(model, sp, kind, args.n, args.seed)
        total = sum(r for r, _ in right.values())
        by_gold = ", ".join(f"{piece.lstrip(chr(0x2581))} {r}/{a}" for piece, (r, a) in sorted(right.items()))
        print(f"{kind:10s} loss {loss:.3f}  right {total}/{args.n}  ({by_gold})")


if __name__ == "__main__":
    main()
