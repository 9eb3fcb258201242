#!/usr/bin/env python3
"""TTFT and output tokens/s against load, from ``bench/serve_load --out`` JSON.

Each ``LABEL=FILE`` is one line per panel (levels by concurrency or by rate)::

    /usr/bin/python3 bench/plot_serve.py "cpu, demo model=bench/results/serve-cpu-demo.json" \\
        --out docs/img/serve-cpu-demo.png

Needs matplotlib (Debian: ``apt-get install python3-matplotlib``).
"""

import argparse
import json


def load(spec):
    label, path = spec.split("=", 1)
    with open(path) as f:
        levels = json.load(f)["levels"]
    key = "concurrency" if "concurrency" in levels[0] else "rate"
    return label, key, levels


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="LABEL=FILE")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ttft, tput) = plt.subplots(1, 2, figsize=(10, 4))
    for spec in args.runs:
        label, key, levels = load(spec)
        x = [lv[key] for lv in levels]
        ttft.plot(x, [lv["ttft_ms"]["p50"] for lv in levels], marker="o", label=f"{label} p50")
        ttft.plot(x, [lv["ttft_ms"]["p99"] for lv in levels], marker="x", linestyle="--",
                  label=f"{label} p99")
        tput.plot(x, [lv["output_token_throughput"] for lv in levels], marker="o", label=label)
    for ax, title in ((ttft, "time to first token (ms)"), (tput, "output tokens/s")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel(key)
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)


if __name__ == "__main__":
    main()
