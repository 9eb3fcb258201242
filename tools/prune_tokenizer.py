#!/usr/bin/env python3
"""Prune a SentencePiece BPE tokenizer to the pieces the demo model's data uses (issue 15).

The demo model's training data (tools/restaurant_data.py, training styles only) uses about 1,700
of the Mistral v0.3 tokenizer's 32,768 pieces. A model trained on it never learns the others:
with tied embeddings it cannot even emit them, so a word of a hand-written note that the full
tokenizer spells with an unseen piece ("Quayside" -> "▁Quays", "ide") can never be copied into
an answer. And at hidden 256 the 32,768-row embedding table is 8.4M of the v1 model's 14.4M
parameters.

This writes a `tokenizer.model` that is still an ordinary SentencePiece BPE model (pcache,
sentencepiece and transformers load it as before), with the same normalizer, byte fallback and
scores, keeping:
  - <unk>, <s>, </s> (ids 0, 1, 2), the control tokens [INST] and [/INST] (3, 4);
  - the 256 byte pieces <0x00>..<0xFF> (byte fallback: any text still encodes);
  - every normal piece the training data's texts encode to, and every normal piece that is a
    substring of one of those: the intermediate pieces BPE merges through, so that the data's
    texts encode to exactly the same pieces as with the full tokenizer (checked on fresh
    examples);
  - every single-character piece of the Latin, punctuation and currency blocks, so that new
    words fall into small known pieces before bytes.
Piece ids change (the order is kept); a model trained with this tokenizer uses its ids.

  python3 tools/prune_tokenizer.py --tokenizer ../shared/fixtures/tiny-mistral/tokenizer.model \\
      --out /tmp/tokenizer.model
"""
import argparse
import os
import random
import sys

import sentencepiece
from sentencepiece import sentencepiece_model_pb2 as pb

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import restaurant_data  # noqa: E402

NORMAL, UNKNOWN, CONTROL, BYTE = 1, 2, 3, 6
KEEP_CONTROL = ["<s>", "</s>", "[INST]", "[/INST]"]


def texts(ex):
    out = [ex["system"], ex["user"], ex["answer"], ex["system"] + "\n\n" + ex["user"]]
    if "modules" in ex:
        out.append(ex["instructions"])
        for m in ex["modules"]:
            out += list(m)
    return out


def basic_char(c):
    o = ord(c)
    return o < 0x250 or 0x2000 <= o < 0x2070 or 0x20A0 <= o < 0x20D0 or c == "\u2581"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", required=True, help="the Mistral v0.3 tokenizer.model")
    ap.add_argument("--out", required=True)
    ap.add_argument("--examples", type=int, default=40000, help="training examples whose pieces are kept")
    ap.add_argument("--check", type=int, default=20000, help="fresh examples encoded by both, which must agree")
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()

    blob = open(args.tokenizer, "rb").read()
    full = sentencepiece.SentencePieceProcessor(model_proto=blob)
    proto = pb.ModelProto()
    proto.ParseFromString(blob)
    assert proto.trainer_spec.model_type == pb.TrainerSpec.BPE and proto.trainer_spec.byte_fallback

    rng = random.Random(args.seed)
    used = set()
    for _ in range(args.examples):
        for t in texts(restaurant_data.example(rng)):
            used.update(full.encode(t, out_type=str))
    normal = {p.piece for p in proto.pieces if p.type == NORMAL}
    used &= normal
    keep = set(used)
    for piece in normal:
        if (len(piece) == 1 and basic_char(piece)) or any(piece in u for u in used):
            keep.add(piece)

    old = list(proto.pieces)
    by_name = {p.piece: p for p in old}
    order = [p for p in old if p.type == UNKNOWN] + [by_name[c] for c in KEEP_CONTROL]
    order += [p for p in old if p.type == BYTE] + [p for p in old if p.type == NORMAL and p.piece in keep]
    new = pb.ModelProto()
    new.CopyFrom(proto)
    del new.pieces[:]
    for p in order:
        new.pieces.add().CopyFrom(p)
    del new.trainer_spec.control_symbols[:]
    new.trainer_spec.control_symbols.extend(["[INST]", "[/INST]"])
    new.trainer_spec.vocab_size = len(order)
    data = new.SerializeToString()
    pruned = sentencepiece.SentencePieceProcessor(model_proto=data)
    assert [pruned.id_to_piece(i) for i in range(5)] == ["<unk>", "<s>", "</s>", "[INST]", "[/INST]"]
    assert (pruned.unk_id(), pruned.bos_id(), pruned.eos_id()) == (0, 1, 2)

    # The data's texts must encode to the same pieces as with the full tokenizer.
    bad = 0
    check_rng = random.Random(args.seed + 1)
    for _ in range(args.check):
        for t in texts(restaurant_data.example(check_rng)):
            if pruned.encode(t, out_type=str) != full.encode(t, out_type=str):
                bad += 1
                if bad <= 3:
                    print("differs:", repr(t[:80]), file=sys.stderr)
    with open(args.out, "wb") as f:
        f.write(data)
    print(f"{args.out}: {len(order)} pieces ({len(used)} used by {args.examples} training examples, "
          f"{len(keep) - len(used)} more: BPE intermediates and single characters, 256 bytes, 5 special); "
          f"{args.check} fresh examples encode the same with both: {'yes' if not bad else f'NO, {bad} texts differ'}")
    if bad:
        sys.exit(1)


if __name__ == "__main__":
    main()
