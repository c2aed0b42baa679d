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


def scale(r: dict) -> str:
    """The tables of bench_scale.py."""
    out = []
    if "startup" in r:
        out += [
            "### Start-up (`snakemake pseudo_labels -n`, shards 16; a cluster job's own parse)\n",
            "| set | code | invocation | s | peak MB | annotation files opened |",
            "|---|---|---|---|---|---|",
        ]
        for label, sets in r["startup"].items():
            for name, rows in sets.items():
                for kind, m in rows.items():
                    if "error" in m:
                        out.append(f"| {name} | {label} | {kind} | failed | | |")
                    else:
                        out.append(
                            f"| {name} | {label} | {kind} | {m['seconds']} | {m['peak_mb']} | {m['annotation_reads']} |"
                        )
        out.append("")
    if "check" in r:
        out += ["### check_dataset (500 x 375 JPEG + XML)\n", "| threads | images | images/s |", "|---|---|---|"]
        out += [f"| {t} | {m['images']} | {m['images_per_second']} |" for t, m in r["check"].items()]
        out.append("")
    if "stages" in r:
        st = r["stages"]
        out += [
            f"### Per stage: {st['images']} toy images of {st['mean_pixels'] / 1e6:.3f} MP (about 500 x 375), "
            "ResNet-50, 2 CPU threads\n",
            "| job | s | s per image | peak MB |",
            "|---|---|---|---|",
        ]
        for job, m in sorted(st["jobs"].items()):
            out.append(f"| {job} | {m['s']} | {_num(m['s_per_image'], '.3f')} | {m['peak_mb']:.0f} |")
        out += ["", "| kept stage file | bytes per image |", "|---|---|"]
        out += [f"| {k} | {v} |" for k, v in st["kept_bytes_per_image"].items()]
        out += [f"| **total** | **{st['kept_bytes_per_image_total']}** |", ""]
    if "memory" in r:
        counts = [k for k in r["memory"] if k.isdigit()]
        jobs = sorted({j for c in counts for j in r["memory"][c]})
        out += [
            "### Peak RSS (MB) against image count (tiny settings)\n",
            "| job | " + " | ".join(f"{c} images" for c in counts) + " |",
            "|---|" + "---|" * len(counts),
        ]
        out += [f"| {j} | " + " | ".join(f"{r['memory'][c].get(j, 0):.0f}" for c in counts) + " |" for j in jobs]
        out.append("")
    if "big_photo" in r:
        cols = [c for c in r["big_photo"] if not c.endswith("_labels")]
        jobs = sorted({j for c in cols for j in r["big_photo"][c] if j != "error"})
        out += [
            "### One 4000 x 3000 photo among the tiny images: peak RSS (MB) by dataset.max_side\n",
            "| job | " + " | ".join(f"max_side {c}" for c in cols) + " |",
            "|---|" + "---|" * len(cols),
        ]
        for j in jobs:
            out.append(f"| {j} | " + " | ".join(f"{r['big_photo'][c].get(j, float('nan')):.0f}" for c in cols) + " |")
        for key, name in (("sem_miou", "labels: sem mIoU"), ("ins_map50", "labels: mAP50")):
            row = [r["big_photo"].get(f"{c}_labels", {}).get(key) for c in cols]
            if any(v is not None for v in row):
                out.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
        out.append("")
    if "storage" in r:
        st = r["storage"]
        old, new = st["old_bytes_per_train_image"], st["new_bytes_per_train_image"]
        out += [
            f"### Stage files of the default toy run ({st['train_images']} train images): bytes per train image\n",
            "| stage file | before (6fb91ba layout) | now |",
            "|---|---|---|",
        ]
        for f in sorted(set(old) | set(new)):
            out.append(f"| {f} | {old.get(f, '-')} | {new.get(f, 'temporary') if f in old else new[f]} |")
        out += [
            f"| **kept** | **{st['old_kb_per_train_image']} KB** | **{st['new_kb_per_train_image']} KB** |",
            f"| peak (with the temporary files) | | {st['peak_kb_per_train_image']} KB |",
            "",
            f"CAMs as the readers get them: {st['cams']['differing_elements']} differing elements in "
            f"{st['cams']['arrays']} arrays (largest difference {st['cams'].get('max_abs_difference', 0):.1e}: "
            "merged in float64 now, in float32 before). Pseudo labels, differing elements (largest "
            "difference) per dataset: "
            + "; ".join(
                f"{k}: "
                + ", ".join(
                    f"{d} {m['differing_elements']}"
                    + (f" ({m['max_abs_difference']:.1e})" if m["differing_elements"] else "")
                    for d, m in v["by_dataset"].items()
                )
                + (f" (only before: {', '.join(v['only_before'])})" if v["only_before"] else "")
                for k, v in st["labels"].items()
            ),
            "",
        ]
    if "projection" in r:
        out += [
            "### Projection through the pseudo labels (CPU: the figures above; GPU: torch stages / "
            "layout.GPU_SPEEDUP, assumed)\n",
            "| set | images | jobs | CPU wall h | GPU wall h | CPU h | GPU h + CPU h beside | kept GB | peak GB |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name, p in r["projection"].items():
            for n, m in p["through_pseudo_labels"].items():
                out.append(
                    f"| {name} | {p['images']} | {n} | {m['cpu_wall_hours']} | {m['gpu_wall_hours']} | "
                    f"{p['cpu_hours']} | {p['gpu_hours']} + {p['cpu_hours_beside']} | {p['kept_gb']} | {p['peak_gb']} |"
                )
        out.append("")
    return "\n".join(out)


def measured_on(data: dict, key: str) -> str:
    """The line naming the machine a section was last written on (``machines``), where recorded."""
    name = data.get("machines", {}).get(key)
    return f"Measured on {name}.\n\n" if name else ""


def main() -> None:
    data = json.loads(RESULTS.read_text())
    if "propagation" in data:
        print("## Propagation\n\n" + measured_on(data, "propagation") + propagation(data["propagation"]) + "\n")
    if "instance_map" in data:
        im = data["instance_map"]
        size = f"{im['w']}x{im['h']} stride-4 map: {im['seconds']} s"
        print(f"## Instance map\n\n{measured_on(data, 'instance_map')}{size}\n")
    if "throughput" in data:
        print("## Throughput (images/s)\n\n" + measured_on(data, "throughput") + throughput(data["throughput"]) + "\n")
    if "toy_pipeline" in data:
        print("## Default toy pipeline\n\n" + measured_on(data, "toy_pipeline") + pipeline(data["toy_pipeline"]) + "\n")
    if "walk" in data:
        w = data["walk"]
        print(
            f"## One walk per image\n\n{measured_on(data, 'walk')}"
            f"| labels of {w['images']} images ({w['instances']} instances) | s per image |\n"
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
        print("## Real VOC fixture (tiny settings)\n\n" + measured_on(data, "real_voc") + "\n".join(rows) + "\n")
    if "scale" in data:
        print("## At full size (bench_scale.py)\n\n" + measured_on(data, "scale") + scale(data["scale"]))


if __name__ == "__main__":
    main()
