"""Propagation: our sparse random walk vs the public dense method (T squared 8 times).

Each measurement runs in a fresh subprocess so that its peak memory (max RSS) is its own.
Usage: python benchmarks/bench_propagation.py [--dense-max-n 3072] [--maps 20]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

SIZES = [(32, 32), (64, 48), (96, 72), (125, 94)]  # stride-4 (w, h); 125x94 = a 500x375 VOC image

CHILD = r"""
import json, sys, torch
sys.path.insert(0, {bench!r})
from common import timed, peak_rss_mb
from irn_core.propagate import propagate, propagate_dense
torch.set_num_threads({threads})
h, w, m, method = {h}, {w}, {maps}, {method!r}
g = torch.Generator().manual_seed(0)
b = (torch.rand(h, w, generator=g) * 0.3).double()
b[:, w // 2] = 0.95
maps = torch.rand(m, h, w, generator=g).double()
base = peak_rss_mb()
fn = propagate if method == "sparse" else propagate_dense
sec, out = timed(lambda: fn(maps, b), repeat=3 if method == "sparse" else 1)  # sparse: best of 3 (first call warms up)
torch.save(out / out.max(), {out!r})
print(json.dumps({{"seconds": sec, "peak_mb": peak_rss_mb() - base}}))
"""


def run(method: str, h: int, w: int, maps: int, threads: int, out: str) -> dict:
    code = CHILD.format(bench=str(Path(__file__).parent), threads=threads, h=h, w=w, maps=maps, method=method, out=out)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    import torch
    from common import update_results

    ap = argparse.ArgumentParser()
    ap.add_argument("--maps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--dense-max-n",
        type=int,
        default=3072,
        help="largest N = h*w for which the dense reference is run (time ~N^3, memory ~N^2)",
    )
    args = ap.parse_args()
    rows = []
    for w, h in SIZES:
        s = run("sparse", h, w, args.maps, args.threads, "/tmp/_rw_sparse.pt")
        row = {
            "h": h,
            "w": w,
            "maps": args.maps,
            "sparse_s": round(s["seconds"], 4),
            "sparse_peak_mb": round(s["peak_mb"], 1),
            "dense_s": None,
            "dense_peak_mb": None,
            "speedup": None,
            "max_abs_diff": None,
        }
        if h * w <= args.dense_max_n:
            d = run("dense", h, w, args.maps, args.threads, "/tmp/_rw_dense.pt")
            diff = (torch.load("/tmp/_rw_sparse.pt") - torch.load("/tmp/_rw_dense.pt")).abs().max().item()
            row.update(
                dense_s=round(d["seconds"], 3),
                dense_peak_mb=round(d["peak_mb"], 1),
                speedup=round(d["seconds"] / s["seconds"], 1),
                max_abs_diff=diff,
            )
        else:
            row["dense_note"] = (
                f"not run: N = {h * w} exceeds --dense-max-n; the dense method needs "
                f"{(h * w) ** 2 * 8 / 2**30:.1f} GiB per float64 matrix and ~N^3 time"
            )
        rows.append(row)
        print(json.dumps(row), flush=True)
    update_results("propagation", rows)


if __name__ == "__main__":
    main()
