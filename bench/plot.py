#!/usr/bin/env python3
"""Time to first token against module length, from benchmark JSON files.

Reads one ``pcache bench`` JSON and optionally one ``bench/hf_baseline.py`` JSON
(the same shape: ``results`` holds one entry per module length and new-text
length with ``naive_ms``, ``cached_ms``, ``floor_ms`` as ``{"median", "p90"}``;
unknown keys are ignored, a missing figure is skipped).

Plot: one panel per new-text length, x = module tokens (log2 axis), y = TTFT in
ms (log axis), medians of pcache naive / cached / floor, and, with ``--hf``,
transformers naive and transformers prefix cache (DynamicCache) dashed::

    python3 bench/plot.py --pcache pcache-h100-mistral.json --hf hf-h100-mistral.json \\
        --out docs/img/ttft-h100-mistral.png [--title "..."]

``--table`` prints a markdown table (for docs/benchmarks.md) to stdout; with
``--table`` alone no plot is drawn and matplotlib is not needed::

    python3 bench/plot.py --pcache pcache-h100-mistral.json --hf hf-h100-mistral.json --table

Needs matplotlib for the plot (Debian: ``apt-get install python3-matplotlib``,
then run with /usr/bin/python3).
"""

import argparse
import json
import math
import sys

# (result key, legend label, colour, line style, marker) for each line drawn.
PCACHE_LINES = [
    ("naive_ms", "pcache naive prefill", "tab:red", "-", "o"),
    ("cached_ms", "pcache prompt cache", "tab:blue", "-", "s"),
    ("floor_ms", "pcache floor (new text alone)", "tab:green", "-", "^"),
]
HF_LINES = [
    ("naive_ms", "transformers naive prefill", "tab:orange", "--", "o"),
    ("cached_ms", "transformers prefix cache (DynamicCache)", "tab:purple", "--", "s"),
]


# --------------------------------------------------------------------------- input


def load_results(path, expected_tool):
    """The document and {(module_tokens, new_tokens): result} of a benchmark JSON."""
    with open(path) as f:
        document = json.load(f)
    if not isinstance(document, dict) or not isinstance(document.get("results"), list):
        sys.exit(f"plot.py: {path}: no \"results\" list")
    tool = document.get("tool")
    if tool != expected_tool:
        print(f"plot.py: warning: {path} was written by {tool!r}, expected {expected_tool!r}", file=sys.stderr)
    results = {}
    for entry in document["results"]:
        try:
            key = (int(entry["module_tokens"]), int(entry["new_tokens"]))
        except (KeyError, TypeError, ValueError):
            print(f"plot.py: warning: {path}: skipping a result without module_tokens/new_tokens", file=sys.stderr)
            continue
        results[key] = entry
    if not results:
        sys.exit(f"plot.py: {path}: no results")
    return document, results


def median(result, key):
    """The median of result[key], or None where it is missing or failed."""
    if not result:
        return None
    entry = result.get(key)
    if not isinstance(entry, dict):
        return None
    value = entry.get("median")
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        return None
    return float(value)


def error_of(result, key):
    if not result:
        return None
    return (result.get("errors") or {}).get(key)


def describe(document):
    """'model, device, dtype' from a document's header, leaving out what is missing."""
    parts = [(document.get("model") or {}).get("name"), (document.get("machine") or {}).get("device"),
             document.get("dtype")]
    return ", ".join(str(p) for p in parts if p)


# --------------------------------------------------------------------------- table


def fmt_ms(value):
    if value is None:
        return None
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 1000 else f"{value:.0f}"


def fmt_ratio(numerator, denominator):
    if numerator is None or denominator is None:
        return "-"
    return f"{numerator / denominator:.1f}x"


def cell(result, key, formatter=fmt_ms):
    """A figure, or why it is missing ("OOM", "error", "-")."""
    text = formatter(median(result, key))
    if text is not None:
        return text
    error = error_of(result, key)
    if error is None:
        return "-"
    return "OOM" if "out of memory" in str(error).lower() else "error"


def fmt_rate(value):
    return None if value is None else f"{value:.1f}"


def markdown_table(pcache, hf):
    keys = sorted(set(pcache) | set(hf or {}), key=lambda k: (k[1], k[0]))
    header = ["module tokens", "new tokens", "naive ms", "cached ms", "floor ms", "naive/cached",
              "cached/floor", "decode tok/s"]
    if hf is not None:
        header += ["HF naive ms", "HF prefix cache ms", "HF decode tok/s"]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" for _ in header) + "|"]
    for key in keys:
        mine = pcache.get(key)
        row = [str(key[0]), str(key[1]), cell(mine, "naive_ms"), cell(mine, "cached_ms"), cell(mine, "floor_ms"),
               fmt_ratio(median(mine, "naive_ms"), median(mine, "cached_ms")),
               fmt_ratio(median(mine, "cached_ms"), median(mine, "floor_ms")),
               cell(mine, "decode_tokens_per_s", fmt_rate)]
        if hf is not None:
            theirs = hf.get(key)
            row += [cell(theirs, "naive_ms"), cell(theirs, "cached_ms"),
                    cell(theirs, "decode_tokens_per_s", fmt_rate)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- plot


def tick_label(tokens):
    return f"{tokens // 1024}k" if tokens >= 1024 and tokens % 1024 == 0 else str(tokens)


def power_of_two_ticks(lengths):
    """Powers of two from the shortest to the longest length (at least the lengths' range)."""
    low = 2 ** math.floor(math.log2(min(lengths)))
    high = 2 ** math.ceil(math.log2(max(lengths)))
    ticks = []
    value = low
    while value <= high:
        ticks.append(value)
        value *= 2
    return ticks


def draw_lines(axis, results, new_tokens, lines):
    lengths = sorted(m for (m, n) in results if n == new_tokens)
    for key, label, colour, style, marker in lines:
        xs = [m for m in lengths if median(results[(m, new_tokens)], key) is not None]
        if not xs:
            continue
        ys = [median(results[(m, new_tokens)], key) for m in xs]
        axis.plot(xs, ys, linestyle=style, marker=marker, color=colour, label=label, linewidth=1.6,
                  markersize=4.5)
    # A length that ran out of memory: an x near the top of the panel in the line's colour,
    # stacked downwards where several lines ran out at one length.
    for m in lengths:
        height = 0.97
        for key, label, colour, style, marker in lines:
            error = error_of(results[(m, new_tokens)], key)
            if error and "out of memory" in str(error).lower():
                axis.plot([m], [height], marker="x", color=colour, transform=axis.get_xaxis_transform(),
                          clip_on=False, linestyle="none")
                axis.annotate("OOM", (m, height), xycoords=axis.get_xaxis_transform(), xytext=(-6, 0),
                              textcoords="offset points", ha="right", va="center", fontsize=7, color=colour)
                height -= 0.045


def plot(pcache_doc, pcache, hf_doc, hf, out, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    everything = dict(pcache)
    if hf:
        everything.update({k: v for k, v in hf.items() if k not in everything})
    new_lengths = sorted({n for (_, n) in everything})
    ticks = power_of_two_ticks([m for (m, _) in everything])

    figure, axes = plt.subplots(1, len(new_lengths), figsize=(5.6 * len(new_lengths), 4.6), squeeze=False,
                                sharey=True)
    for axis, new_tokens in zip(axes[0], new_lengths):
        draw_lines(axis, pcache, new_tokens, PCACHE_LINES)
        if hf:
            draw_lines(axis, hf, new_tokens, HF_LINES)
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.xaxis.set_major_locator(FixedLocator(ticks))
        axis.xaxis.set_minor_locator(NullLocator())
        axis.set_xticks(ticks)
        axis.set_xticklabels([tick_label(t) for t in ticks])
        axis.set_xlim(ticks[0] / 1.25, ticks[-1] * 1.25)
        axis.set_title(f"{new_tokens} new tokens")
        axis.set_xlabel("module tokens")
        axis.grid(True, which="major", alpha=0.35)
    axes[0][0].set_ylabel("time to first token (ms, median)")
    # Plain millisecond labels at 1, 2, 5 x 10^k instead of bare powers of ten.
    low, high = axes[0][0].get_ylim()
    y_ticks = [s * 10 ** e for e in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
               for s in (1, 2, 5) if low <= s * 10 ** e <= high]
    if len(y_ticks) >= 2:  # else keep matplotlib's own ticks for a very narrow range
        for axis in axes[0]:
            axis.yaxis.set_major_locator(FixedLocator(y_ticks))
            axis.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            axis.set_ylim(low, high)
    by_label = {}
    for axis in axes[0]:
        for handle, label in zip(*axis.get_legend_handles_labels()):
            by_label.setdefault(label, handle)
    labels = [line[1] for line in PCACHE_LINES + HF_LINES if line[1] in by_label]
    axes[0][0].legend([by_label[label] for label in labels], labels, fontsize=8, loc="upper left")
    if title is None:
        title = "Time to first token"
        context = describe(pcache_doc)
        if context:
            title += f": {context}"
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(out, dpi=150)
    plt.close(figure)


# --------------------------------------------------------------------------- main


def main(argv=None):
    p = argparse.ArgumentParser(description="Plot TTFT against module length; print a markdown table.")
    p.add_argument("--pcache", required=True, help="JSON written by `pcache bench`")
    p.add_argument("--hf", default=None, help="JSON written by bench/hf_baseline.py")
    p.add_argument("--out", default=None, help="PNG (or any matplotlib format) to write")
    p.add_argument("--title", default=None, help="figure title (default: model, device, dtype)")
    p.add_argument("--table", action="store_true", help="print a markdown table to stdout")
    args = p.parse_args(argv)
    if not args.out and not args.table:
        p.error("nothing to do: give --out and/or --table")

    pcache_doc, pcache = load_results(args.pcache, "pcache bench")
    hf_doc, hf = (None, None)
    if args.hf:
        hf_doc, hf = load_results(args.hf, "hf_baseline")
    if args.table:
        print(markdown_table(pcache, hf))
    if args.out:
        plot(pcache_doc, pcache, hf_doc, hf, args.out, args.title)
        print(f"plot.py: wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
