#!/usr/bin/env python3
"""Re-picks the questions of tests/fixtures/eval-demo (the test cli.eval_demo) for a new demo model:
from a `pcache eval --out` result, the first question of each kind that every method answered
exactly, written as lines of the evaluated folder's eval.jsonl (unchanged, in their order).

    pcache eval /tmp/ev2 --out ev2.json
    python3 tools/pick_demo_questions.py ev2.json /tmp/ev2/eval.jsonl > tests/fixtures/eval-demo/eval.jsonl
"""
import argparse
import json
import sys


def picked_lines(result):
    """Line numbers (1-based) of the first exactly answered question of each kind."""
    methods = list(result["summary"])
    first = {}
    for a in result["answers"]:
        if a["kind"] not in first and all(a[m] == a["gold"] for m in methods):
            first[a["kind"]] = a["line"]
    return sorted(first.values())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("result", help="pcache eval --out JSON")
    ap.add_argument("questions", help="the eval.jsonl it was run on")
    a = ap.parse_args()
    with open(a.result) as f:
        result = json.load(f)
    with open(a.questions) as f:
        lines = f.read().splitlines()
    for n in picked_lines(result):
        sys.stdout.write(lines[n - 1] + "\n")


if __name__ == "__main__":
    main()
