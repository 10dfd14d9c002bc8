#!/usr/bin/env python3
"""The side by side benchmark's charts, from its results.json.

  charts.py RESULTS_JSON OUT_DIR

Writes throughput.png (events/s per contestant, median and range of the
rounds, the passthrough as a line), latency.png (event-to-trigger latency
CDFs, one panel per paced rate) and cpu.png (CPU per event of the process,
with redis-server's beside it, and peak RSS). matplotlib, Agg backend.
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"passthrough": "#888888", "vigil": "#1f77b4", "python": "#2ca02c", "kstreams": "#d62728"}
DPI = 90


def _entries(res):
    s = res["summary"]
    return [(k, e) for k, e in s.items() if "eps" in e]


def _color(e):
    return COLORS.get(e["name"], "#555555")


def _hatch(e):
    return "//" if e["mode"] == "exactly_once" and e["name"] != "passthrough" else None


def _tick(e):
    return e["name"] if e["name"] == "passthrough" else "%s\n%s" % (
        e["name"], "alo" if e["mode"] == "at_least_once" else "eos")


def _subtitle(res):
    m = res["meta"]
    return "commit %s, %d events x %d rounds, load %.1f (median at run starts)" % (
        m["commit"], m["events"], m["rounds"], m.get("load_during") or 0)


def throughput(res, out):
    ents = _entries(res)
    fig, ax = plt.subplots(figsize=(8, 4))
    xs = range(len(ents))
    eps = [e["eps"] for _, e in ents]
    lo = [e["eps"] - e["eps_min"] for _, e in ents]
    hi = [e["eps_max"] - e["eps"] for _, e in ents]
    bars = ax.bar(xs, eps, yerr=[lo, hi], capsize=3, color=[_color(e) for _, e in ents],
                  edgecolor="black", linewidth=0.5)
    for b, (_, e) in zip(bars, ents):
        if _hatch(e):
            b.set_hatch(_hatch(e))
        ax.annotate("%.1fk" % (e["eps"] / 1000), (b.get_x() + b.get_width() / 2, 0),
                    ha="center", va="bottom", fontsize=8, xytext=(0, 3), textcoords="offset points",
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.8))
    floor = res["summary"].get("passthrough", {}).get("eps")
    if floor:
        for f, style in ((1.0, "-"), (0.6, ":"), (0.5, "--")):
            ax.axhline(f * floor, color="#888888", linestyle=style, linewidth=0.8)
        ax.text(len(ents) - 0.5, 0.6 * floor, " 0.6 floor", fontsize=7, va="bottom", ha="right")
        ax.text(len(ents) - 0.5, 0.5 * floor, " 0.5 floor", fontsize=7, va="top", ha="right")
    ax.set_xticks(list(xs))
    ax.set_xticklabels([_tick(e) for _, e in ents], fontsize=8)
    ax.set_ylabel("events/s (median of rounds, bar: range)")
    ax.set_title("Throughput, same input and stack\n" + _subtitle(res), fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "throughput.png"), dpi=DPI)
    plt.close(fig)


def latency(res, out, base):
    rows = [r for r in res["latency"] if r.get("ok")]
    labels = []
    for r in rows:
        if r["rate_label"] not in labels:
            labels.append(r["rate_label"])
    if not labels:
        return
    n = len(labels)
    cols = min(n, 3)
    nrows = (n + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.2 * nrows), squeeze=False)
    for i, label in enumerate(labels):
        ax = axes[i // cols][i % cols]
        for r in rows:
            if r["rate_label"] != label:
                continue
            path = os.path.join(base, r["samples_file"])
            try:
                with open(path) as f:
                    v = sorted(float(x) for x in f if x.strip())
            except OSError:
                continue
            if not v:
                continue
            y = [(k + 1) / len(v) for k in range(len(v))]
            e = res["summary"][r["contestant"]]
            ax.plot(v, y, color=_color(e), linestyle="--" if e["mode"] == "exactly_once" else "-",
                    linewidth=1.2, label="%s (%.0f/s)" % (e["label"], r["rate"]) if label.endswith("%")
                    else e["label"])
        ax.set_xscale("log")
        ax.set_ylim(0, 1.0)
        ax.axhline(0.99, color="#bbbbbb", linewidth=0.5)
        ax.axhline(0.5, color="#bbbbbb", linewidth=0.5)
        ax.set_title(("%s of own max" % label) if label.endswith("%") else "%s events/s" % label, fontsize=9)
        ax.set_xlabel("event-to-trigger latency, ms (log)", fontsize=8)
        ax.grid(True, which="both", axis="x", linewidth=0.3)
        ax.legend(fontsize=6, loc="lower right")
    for j in range(n, nrows * cols):
        axes[j // cols][j % cols].axis("off")
    fig.suptitle("Latency CDFs, read_committed reader\n" + _subtitle(res), fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "latency.png"), dpi=DPI)
    plt.close(fig)


def cpu(res, out):
    ents = [(k, e) for k, e in _entries(res) if e.get("cpu_s_per_m") is not None]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    xs = list(range(len(ents)))
    proc = [e["cpu_s_per_m"] for _, e in ents]
    red = [e.get("redis_cpu_s_per_m") or 0 if e["name"] in ("vigil", "python") else 0 for _, e in ents]
    bars = ax.bar(xs, proc, color=[_color(e) for _, e in ents], edgecolor="black", linewidth=0.5,
                  label="the process")
    ax.bar(xs, red, bottom=proc, color="#ffbb78", edgecolor="black", linewidth=0.5, label="redis-server")
    for b, (_, e), r in zip(bars, ents, red):
        if _hatch(e):
            b.set_hatch(_hatch(e))
        ax.annotate("%.1f" % e["cpu_s_per_m"], (b.get_x() + b.get_width() / 2, b.get_height() + r),
                    ha="center", va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(xs)
    ax.set_xticklabels([_tick(e) for _, e in ents], fontsize=8)
    ax.set_ylabel("CPU seconds per million events (= µs/event)")
    ax.set_ylim(0, max(p + r for p, r in zip(proc, red)) * 1.12)
    ax.set_title("CPU per event (median of rounds)", fontsize=9)
    ax.legend(fontsize=7)
    rss = [e.get("peak_rss_mb") or 0 for _, e in ents]
    b2 = ax2.bar(xs, rss, color=[_color(e) for _, e in ents], edgecolor="black", linewidth=0.5)
    for b, (_, e) in zip(b2, ents):
        if _hatch(e):
            b.set_hatch(_hatch(e))
        ax2.annotate("%.0f" % b.get_height(), (b.get_x() + b.get_width() / 2, b.get_height()),
                     ha="center", va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")
    ax2.axhline(64, color="#888888", linestyle=":", linewidth=0.8)
    ax2.set_ylim(0, max(rss) * 1.12)
    ax2.set_xticks(xs)
    ax2.set_xticklabels([_tick(e) for _, e in ents], fontsize=8)
    ax2.set_ylabel("peak RSS (VmHWM), MB")
    ax2.set_title("Peak RSS, highest of the rounds (line: 64 MB)", fontsize=9)
    fig.suptitle(_subtitle(res), fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "cpu.png"), dpi=DPI)
    plt.close(fig)


def draw(results_json, out):
    with open(results_json) as f:
        res = json.load(f)
    os.makedirs(out, exist_ok=True)
    throughput(res, out)
    latency(res, out, os.path.dirname(os.path.abspath(results_json)))
    cpu(res, out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    draw(sys.argv[1], sys.argv[2])
