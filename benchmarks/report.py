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
    out = [
        "| stride-4 size (w x h) | N | sparse s | dense s | speedup | max abs diff | sparse peak MB | dense peak MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['w']}x{r['h']} | {r['w'] * r['h']} | {r['sparse_s']:.3f} | {_num(r['dense_s'], '.3f')} | "
            f"{_num(r['speedup'], '.1f')}x | {_num(r['max_abs_diff'], '.1e')} | {r['sparse_peak_mb']:.1f} | "
            f"{_num(r['dense_peak_mb'], '.1f')} |"
        )
    return "\n".join(out)


def throughput(rows: dict) -> str:
    out = [
        "| input | layout | CAM inference (4 scales + flip) | IRNet inference (image + flip) | CAM training | "
        "IRNet training (radius 10) |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        out.append(
            f"| {name.replace('_contiguous', '')} (batch {r['batch']}) | {r.get('layout', 'contiguous')} | "
            f"{r['cam_infer_img_s']} | {r['irn_infer_img_s']} | {r['cam_train_img_s']} | "
            f"{r['irn_train_img_s']} |"
        )
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
        print("## Default toy pipeline\n\n" + pipeline(data["toy_pipeline"]) + "\n")
    if "walk" in data:
        w = data["walk"]
        print(
            f"## One walk per image\n\n| labels of {w['images']} images ({w['instances']} instances) | s per image |\n"
            f"|---|---|\n| two walks (propagate, then make_instances) | {w['two_walks_s_per_image']} |\n"
            f"| one walk (make_labels) | {w['one_walk_s_per_image']} |\n| ratio | {w['ratio']} |\n\n"
            f"Equal labels on {w['images_with_equal_labels']} of {w['images']} images; scores differ by at most "
            f"{w['max_score_diff']:.1e}.\n"
        )
    if "real_voc" in data:
        r = data["real_voc"]
        rows = [
            "| image | size | CAM mIoU | semantic pseudo label mIoU | instances (ground truth) | void |",
            "|---|---|---|---|---|---|",
        ]
        rows += [
            f"| {i} | {v['size'][1]}x{v['size'][0]} | {v['cam_miou']} | {v['sem_pseudo_miou']} | "
            f"{v['instances']} ({v['gt_instances']}) | {v['void_fraction']:.1%} |"
            for i, v in r["images"].items()
        ]
        print("## Real VOC fixture (tiny settings)\n\n" + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
