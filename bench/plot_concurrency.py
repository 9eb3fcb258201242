#!/usr/bin/env python3
"""Output tokens/s against requests at once, from ``pcache bench --concurrency`` JSON.

Each ``--pcache LABEL=FILE`` is one line (results with ``concurrency`` and
``output_tokens_per_s``); ``--peer LABEL=N:TOKS,N:TOKS,...`` adds a dashed line
of figures measured elsewhere (llama.cpp's ``llama-batched-bench``, say)::

    /usr/bin/python3 bench/plot_concurrency.py --pcache "pcache=concurrency.json" \\
        --peer "llama.cpp=1:206,4:624,16:1929,64:4767" --out docs/img/concurrency-h200.png

Needs matplotlib (Debian: ``apt-get install python3-matplotlib``).
"""

import argparse
import json


def pcache_line(spec):
    label, path = spec.split("=", 1)
    with open(path) as f:
        rows = json.load(f)["results"]
    points = sorted((r["concurrency"], r["output_tokens_per_s"]) for r in rows)
    return label, points


def peer_line(spec):
    label, pairs = spec.split("=", 1)
    points = sorted((int(n), float(t)) for n, t in (p.split(":") for p in pairs.split(",")))
    return label, points


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pcache", action="append", default=[], help="LABEL=FILE (repeatable)")
    ap.add_argument("--peer", action="append", default=[], help="LABEL=N:TOKS,... (repeatable)")
    ap.add_argument("--title", default="")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for spec in args.pcache:
        label, pts = pcache_line(spec)
        ax.plot([n for n, _ in pts], [t for _, t in pts], marker="o", label=label)
    for spec in args.peer:
        label, pts = peer_line(spec)
        ax.plot([n for n, _ in pts], [t for _, t in pts], marker="s", linestyle="--", label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("requests at once")
    ax.set_ylabel("output tokens/s (all requests)")
    ax.set_title(args.title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)


if __name__ == "__main__":
    main()
