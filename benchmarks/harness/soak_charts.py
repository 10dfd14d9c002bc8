#!/usr/bin/env python3
"""The soak's timelines: soak.png, 4 panels over the run's minutes, from the
samples.csv that soak.py writes (one row per window).

  soak_charts.py samples.csv [soak.png]

  lag       the events topic's end offsets minus the group's committed
            offsets (and the worker's own vigil_consumer_lag)
  RSS       the worker's VmRSS and VmHWM (MB)
  latency   p99 of the triggers read in each window (p50 and the maximum
            lighter), ms; the machine's load average on the right axis
  Redis     used_memory (MB) and the number of keys (right axis)

The drain after the production is shaded.
"""
import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k, v in r.items():
            if k != "phase":
                r[k] = float(v) if v not in ("", "None") else None
    return rows


def col(rows, key):
    pts = [(r["t_s"] / 60.0, r[key]) for r in rows if r[key] is not None]
    return [x for x, _ in pts], [y for _, y in pts]


def draw(csv_path, png_path, title=None):
    rows = load(csv_path)
    fig, ax = plt.subplots(4, 1, figsize=(10, 11), sharex=True)
    drain = [r["t_s"] / 60.0 for r in rows if r["phase"] == "drain"]

    x, y = col(rows, "lag")
    ax[0].plot(x, y, color="tab:blue", lw=1.2, label="end offsets - committed")
    x, y = col(rows, "lag_metric")
    ax[0].plot(x, y, color="tab:cyan", lw=0.8, alpha=0.7, label="vigil_consumer_lag")
    ax[0].set_ylabel("lag (events)")

    x, y = col(rows, "rss_mb")
    ax[1].plot(x, y, color="tab:green", lw=1.2, label="VmRSS")
    x, y = col(rows, "hwm_mb")
    ax[1].plot(x, y, color="tab:olive", lw=1.0, ls="--", label="VmHWM")
    ax[1].set_ylabel("worker (MB)")
    ax[1].set_ylim(bottom=0)

    x, y = col(rows, "p99_ms")
    ax[2].plot(x, y, color="tab:red", lw=1.2, label="p99")
    x, y = col(rows, "p50_ms")
    ax[2].plot(x, y, color="tab:orange", lw=0.8, alpha=0.8, label="p50")
    x, y = col(rows, "max_ms")
    ax[2].plot(x, y, color="tab:gray", lw=0.6, alpha=0.5, label="max")
    ax[2].set_ylabel("event to trigger (ms)")
    ax[2].set_yscale("log")
    ld = ax[2].twinx()
    x, y = col(rows, "load1")
    ld.plot(x, y, color="0.4", lw=0.8, ls=":", label="load average (2 cores)")
    ld.set_ylabel("load average")
    ld.set_ylim(bottom=0)

    x, y = col(rows, "redis_used_mb")
    ax[3].plot(x, y, color="tab:purple", lw=1.2, label="used_memory")
    ax[3].set_ylabel("Redis (MB)")
    ax[3].set_ylim(bottom=0)
    k = ax[3].twinx()
    x, y = col(rows, "redis_keys")
    k.plot(x, y, color="tab:brown", lw=0.8, ls=":", label="keys")
    k.set_ylabel("keys")
    k.set_ylim(bottom=0)
    ax[3].set_xlabel("minutes")

    for a in ax:
        a.grid(alpha=0.3)
        if drain:
            a.axvspan(min(drain) - 1e-9, max(drain), color="0.9", zorder=0)
    for a in ax[:2]:
        a.legend(loc="upper left", fontsize=8)
    for a, twin in ((ax[2], ld), (ax[3], k)):
        h1, l1 = a.get_legend_handles_labels()
        h2, l2 = twin.get_legend_handles_labels()
        a.legend(h1 + h2, l1 + l2, loc="upper left", fontsize=8)
    fig.suptitle(title or "soak", fontsize=11)
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
    return png_path


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    src = sys.argv[1]
    dst = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(src) or ".", "soak.png")
    print(draw(src, dst))
