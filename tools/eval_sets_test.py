#!/usr/bin/env python3
"""The data behind docs/accuracy.md's figures stay what they were measured on (issue 15).

Each demo model so far was compared on the same evaluation sets, and the shipped model was trained
on the v2 data: a change to tools/restaurant_data.py that alters them, even by one character,
makes the figures incomparable. This regenerates them and compares digests (MD5) with the ones
measured on:
  - the generator's held-out sets (`--eval 200 --seed 1`, training and held-out styles, in both
    answer house styles, and the one-sided held-out splits, heldout-notes and heldout-questions) and
    their schemas;
  - the first 300 examples of the v2, v3, v9, v10, v11, v12, v13, v14 and v15 training streams (`--train 300 --seed 1`);
  - the demo schema, against schemas/demo_restaurants.xml;
and rewrites the hand-written set's derived files (tools/handwritten_eval.py) into a temporary
copy, which must equal the committed ones byte for byte.

Usage: python3 tools/eval_sets_test.py   (a ctest, tools.eval_sets; stdlib only)
"""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HANDWRITTEN = os.path.join(ROOT, "tests", "fixtures", "eval-handwritten")

# (generator arguments) -> {file: MD5}
GENERATED = {
    ("--eval", "200", "--styles", "train", "--answers", "decide"): {
        "eval.jsonl": "6f7fc149f68fe89e6307d29f941e4fcf", "eval_scaffold.xml": "39fb7dffea21a5c1c514fdaf6d228bef",
        "eval_independent.xml": "1c3c528a54e41028d03164a8efd9dcf2"},
    ("--eval", "200", "--styles", "heldout", "--answers", "decide"): {
        "eval.jsonl": "b3ef90994d9358f233fd99ca92f6cc26", "eval_scaffold.xml": "901e9e3a3bac213fca3cfc14fa42b2af",
        "eval_independent.xml": "fd1012013e2732ddda34dce2c437f2be"},
    ("--eval", "200", "--styles", "heldout-notes", "--answers", "decide"): {
        "eval.jsonl": "5a2899f022474c9598d40fe2fffaaeae", "eval_scaffold.xml": "15f65b9ebe415d8a79a3982806aa30ff",
        "eval_independent.xml": "e87986ebb9649d742ba9d04b9bade18e"},
    ("--eval", "200", "--styles", "heldout-questions", "--answers", "decide"): {
        "eval.jsonl": "646747a07b8ad9bca67f847bc9c9936e", "eval_scaffold.xml": "49d8fa68e35fb537ee07eafb422be50c",
        "eval_independent.xml": "fe89b79fa196d8ccf15a04b39a84f343"},
    ("--eval", "200", "--styles", "train", "--answers", "quote"): {"eval.jsonl": "62d1ae02f9a61a6ce6de3620ea75d444"},
    ("--eval", "200", "--styles", "heldout", "--answers", "quote"): {"eval.jsonl": "ff2eed121682708be11c57cc4fdfdfa3"},
    ("--train", "300", "--eval", "0", "--data", "v2"): {"train.jsonl": "69ad1c59a2fb25df7f3622303dcee230"},
    ("--train", "300", "--eval", "0", "--data", "v3"): {"train.jsonl": "651f445643b2196c0db7e64aacb954cf"},
    ("--train", "300", "--eval", "0", "--data", "v9"): {"train.jsonl": "86b03626fb551232f07635311b013969"},
    ("--train", "300", "--eval", "0", "--data", "v10"): {"train.jsonl": "0cfc120199acbc471c368fbfee9b833b"},
    ("--train", "300", "--eval", "0", "--data", "v11"): {"train.jsonl": "3123781f47220ad4871ad7359c235d8a"},
    ("--train", "300", "--eval", "0", "--data", "v12"): {"train.jsonl": "a4ecc2d9cd973a6d615bc5e61f5bb84b"},
    ("--train", "300", "--eval", "0", "--data", "v13"): {"train.jsonl": "6f7a93f7e3a5ec20f1598ce6c0eba859"},
    ("--train", "300", "--eval", "0", "--data", "v14"): {"train.jsonl": "a9dd5b5b41a0935df400e3904ff5e036"},
    ("--train", "300", "--eval", "0", "--data", "v15"): {"train.jsonl": "528c50b56c2d4e5471ca460bb06299b5"},
}


def md5(path):
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


def main():
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (args, files) in enumerate(GENERATED.items()):
            out = os.path.join(tmp, str(i))
            extra = ("--demo-schema", os.path.join(out, "demo.xml")) if i == 0 else ()
            subprocess.run([sys.executable, os.path.join(HERE, "restaurant_data.py"), "--out", out, "--seed", "1",
                            *args, *extra], check=True, stdout=subprocess.DEVNULL)
            for name, want in files.items():
                got = md5(os.path.join(out, name))
                if got != want:
                    failures.append(f"restaurant_data.py {' '.join(args)}: {name} has MD5 {got}, measured on {want}")
            if extra and md5(extra[1]) != md5(os.path.join(ROOT, "schemas", "demo_restaurants.xml")):
                failures.append("restaurant_data.py --demo-schema differs from schemas/demo_restaurants.xml")
        copy = os.path.join(tmp, "handwritten")
        os.makedirs(copy)
        for name in ("eval_scaffold.xml", "questions.jsonl"):
            shutil.copy(os.path.join(HANDWRITTEN, name), copy)
        subprocess.run([sys.executable, os.path.join(HERE, "handwritten_eval.py"), copy], check=True,
                       stdout=subprocess.DEVNULL)
        for name in ("eval.jsonl", "eval_quote.jsonl", "eval_independent.xml"):
            if md5(os.path.join(copy, name)) != md5(os.path.join(HANDWRITTEN, name)):
                failures.append(f"tests/fixtures/eval-handwritten/{name} is not what handwritten_eval.py writes "
                                "from questions.jsonl and eval_scaffold.xml: run it")
    for f in failures:
        print(f)
    print(f"{len(GENERATED)} generated sets and the hand-written set: {len(failures)} differences")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
