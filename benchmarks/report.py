"""Markdown tables of benchmarks/results.json (what benchmarks/README.md shows).

Usage: python benchmarks/report.py
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).with_name("results.json")


def _num(x, fmt: str) -> str:
    return "n/a" if x is None else format(x, fmt)


def propagation(rows: list[dict]) -> str:
    out = ["| stride-4 size (w x h) | N | sparse s | dense s | speedup | max abs diff | sparse peak MB "
           "| dense peak MB |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['w']}x{r['h']} | {r['w'] * r['h']} | {r['sparse_s']:.3f} | {_num(r['dense_s'], '.3f')} | "
                   f"{_num(r['speedup'], '.1f')}x | {_num(r['max_abs_diff'], '.1e')} | {r['sparse_peak_mb']:.1f} | "
                   f"{_num(r['dense_peak_mb'], '.1f')} |")
    return "\n".join(out)


def throughput(rows: dict) -> str:
    out = ["| input | layout | CAM inference (4 scales + flip) | IRNet inference (image + flip) | CAM training | "
           "IRNet training (radius 10) |", "|---|---|---|---|---|---|"]
    for name, r in rows.items():
        out.append(f"| {name.replace('_contiguous', '')} (batch {r['batch']}) | {r.get('layout', 'contiguous')} | "
                   f"{r['cam_infer_img_s']} | {r['irn_infer_img_s']} | {r['cam_train_img_s']} | "
                   f"{r['irn_train_img_s']} |")
    return "\n".join(out)


def pipeline(row: dict) -> str:
    out = ["| rule | s |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in sorted(row["stages"].items())]
    out.append(f"| **wall clock, whole run** | **{row['total_s']}** |")
    out.append(f"| **wall clock, through the pseudo labels (eval_pseudo)** | **{row['through_pseudo_labels_s']}** |")
    out.append(f"| sum of the rules' own times | {row.get('sum_of_stages_s', '')} |")
    return "\n".join(out)


def main() -> None:
    data = json.loads(RESULTS.read_text())
    print(f"Machine: {data['machine']}\n")
    if "propagation" in data:
        print("## Propagation\n\n" + propagation(data["propagation"]) + "\n")
    if "instance_map" in data:
        im = data["instance_map"]
        print(f"## Instance map\n\n{im['w']}x{im['h']} stride-4 map: {im['seconds']} s\n")
    if "throughput" in data:
        print("## Throughput (images/s)\n\n" + throughput(data["throughput"]) + "\n")
    if "toy_pipeline" in data:
        print("## Default toy pipeline\n\n" + pipeline(data["toy_pipeline"]))


if __name__ == "__main__":
    main()
