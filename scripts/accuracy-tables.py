#!/usr/bin/env python3
"""Prints the tables of docs/accuracy.md from the JSON files scripts/accuracy-study.sh wrote.

Per trainable set and configuration: held-out accuracy (mean ± sample sd over the seeds), the
paired difference to the baseline of the same seed, final held-out loss, measured peak ratio and
step-time ratio; then each 2-bit activation's own dX cosine (mean over the seeds) per table.
"""
import glob
import json
import os
import re
import statistics
import sys

folder = sys.argv[1] if len(sys.argv) > 1 else "docs/accuracy-results"
runs = {}
for path in sorted(glob.glob(os.path.join(folder, "minilm-spam-*-seed*.json"))):
    trainable, seed = re.search(r"minilm-spam-(.+)-seed(\d+)\.json$", path).groups()
    with open(path, encoding="utf-8") as f:
        runs.setdefault(trainable, {})[int(seed)] = json.load(f)["variants"]
if not runs:
    sys.exit(f"no study results in {folder}")


def mean_sd(values):
    m = statistics.mean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return m, sd


def pct(m_sd):
    return f"{m_sd[0] * 100:.2f} ± {m_sd[1] * 100:.2f}"


for trainable, seeds in runs.items():
    order = sorted(seeds)
    first = seeds[order[0]]
    print(f"\n### {trainable} (seeds {', '.join(map(str, order))})\n")
    print("| configuration | held-out accuracy, % | vs baseline, points (per seed) | final held-out loss | peak ratio | time ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    base_acc = [seeds[s][0]["baseline"]["eval_accuracy"] for s in order]
    base_loss = [seeds[s][0]["baseline"]["eval_loss"] for s in order]
    print(f"| baseline | {pct(mean_sd(base_acc))} | | {statistics.mean(base_loss):.4f} | 1 | 1 |")
    for i, variant in enumerate(first):
        acc = [seeds[s][i]["rewritten"]["eval_accuracy"] for s in order]
        loss = [seeds[s][i]["rewritten"]["eval_loss"] for s in order]
        diff = [(a - b) * 100 for a, b in zip(acc, base_acc)]
        peak = statistics.mean(seeds[s][i]["peak_ratio"] for s in order)
        time_ratio = statistics.mean(seeds[s][i]["time_ratio"] for s in order)
        per_seed = ", ".join(f"{d:+.2f}" for d in diff)
        print(f"| {variant['variant']} | {pct(mean_sd(acc))} | {statistics.mean(diff):+.2f} ({per_seed}) | {statistics.mean(loss):.4f} | {peak:.3f} | {time_ratio:.3f} |")

    print(f"\nPer-activation dX cosine against dY·GELU′(x) on the first held-out batch before training ({trainable}, mean over the seeds):\n")
    tabled = [(i, v) for i, v in enumerate(first) if v["activations"] and v["variant"].startswith("regelu2")]
    print("| layer | " + " | ".join(v["variant"] for _, v in tabled) + " |")
    print("|---|" + "---:|" * len(tabled))
    for layer in range(len(tabled[0][1]["activations"])):
        cells = []
        for i, v in tabled:
            cells.append(f"{statistics.mean(seeds[s][i]['activations'][layer]['dx_cosine'] for s in order):.4f}")
        print(f"| {layer} ({first[tabled[0][0]]['activations'][layer]['node']}) | " + " | ".join(cells) + " |")
