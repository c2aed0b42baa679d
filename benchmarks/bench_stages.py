"""Per-image stages: instance map at 125x94, CAM / IRNet inference and training throughput at the
toy size and at 512x512 crops (random weights: throughput does not depend on them).

Throughput is measured with the weights stored channels_last (the default config) and, for
comparison, in the plain contiguous layout.

Usage: python benchmarks/bench_stages.py [--arch resnet_tiny] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import timed, update_results

from irn_core.cam import multiscale_cam
from irn_core.data import scaled_views
from irn_core.instances import instance_map
from irn_core.models import CAMNet, IRNet, build_backbone
from irn_core.relations import irn_losses
from irn_core.stages.irnet import irn_forward


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="resnet_tiny")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    out = {}

    # instance map (centroid search 300 steps + grouping) on a two-object field at 125x94
    h, w = 94, 125
    ys, xs = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    cy = torch.where(xs < 60, 40.0, 50.0)
    cx = torch.where(xs < 60, 30.0, 90.0)
    disp = torch.stack([cy - ys, cx - xs]).to(dev) + 0.2 * torch.randn(2, h, w, device=dev)
    instance_map(disp)
    sec, inst = timed(lambda: instance_map(disp), repeat=3)
    out["instance_map"] = {"h": h, "w": w, "seconds": round(sec, 4), "instances": int(inst.shape[0])}
    print(out["instance_map"], flush=True)

    rows = {}
    for layout in ("channels_last", "contiguous"):
        fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
        torch.manual_seed(0)
        cam = CAMNet(build_backbone(args.arch), 4, pretrained=False).to(dev, memory_format=fmt)
        irn = IRNet(build_backbone(args.arch)).to(dev, memory_format=fmt)
        for size_name, size, batch in (("toy_192", 192, 16), ("crop_512", 512, 4)):
            name = size_name if layout == "channels_last" else f"{size_name}_contiguous"
            rows[name] = dict(_throughput(cam, irn, size, batch, dev), arch=args.arch, batch=batch, layout=layout)
            print(name, rows[name], flush=True)
    out["throughput"] = rows
    update_results("instance_map", out["instance_map"])
    update_results("throughput", rows)


def _throughput(cam, irn, size: int, batch: int, dev) -> dict:
    """Images per second of CAM / IRNet inference (one image, multi-scale / flip) and training steps."""
    img = torch.randn(3, size, size, device=dev)
    cam.eval()
    with torch.no_grad():
        n = 3
        views = [v.to(dev) for v in scaled_views(np.zeros((size, size, 3), np.uint8), (1.0, 0.5, 1.5, 2.0))]
        sec, _ = timed(
            lambda: [multiscale_cam(cam.cam, views, torch.tensor([0, 1], device=dev), (size, size)) for _ in range(n)]
        )
        cam_inf = n / sec
        irn.eval()
        sec, _ = timed(lambda: [irn_forward(irn, img) for _ in range(n)])
        irn_inf = n / sec
    x = torch.randn(batch, 3, size, size, device=dev)
    y = torch.randint(0, 2, (batch, 4), device=dev).float()
    opt = torch.optim.SGD(cam.parameters(), lr=1e-3)
    cam.train()

    def cam_step():
        loss = torch.nn.functional.multilabel_soft_margin_loss(cam(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    cam_step()
    sec, _ = timed(cam_step, repeat=2)
    cam_train = batch / sec
    lab = torch.randint(0, 3, (batch, size // 4, size // 4), device=dev)
    iopt = torch.optim.SGD([p for p in irn.parameters() if p.requires_grad], lr=1e-3)
    irn.train()

    def irn_step():
        e, d = irn(x)
        loss = irn_losses(e, d, lab, 10)["total"]
        iopt.zero_grad()
        loss.backward()
        iopt.step()

    irn_step()
    sec, _ = timed(irn_step, repeat=2)
    return {
        "cam_infer_img_s": round(cam_inf, 2),
        "irn_infer_img_s": round(irn_inf, 2),
        "cam_train_img_s": round(cam_train, 2),
        "irn_train_img_s": round(batch / sec, 2),
    }


if __name__ == "__main__":
    main()
