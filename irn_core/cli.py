"""``irn``: look at what the pipeline wrote.

irn inspect FILE.h5 [--all]           provenance, images and datasets of a stage file, explained
irn show RUN_DIR IMAGE_ID [-o X.png]  one panel per stage for one image
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def inspect(path: str, every_image: bool = False, out=sys.stdout) -> None:
    from .io import open_stage

    with open_stage(path) as f:
        attrs = dict(f.attrs)
        ids = list(f)
        p = lambda *a: print(*a, file=out)
        p(f"{path}")
        p(
            f"  stage {attrs.get('stage')}, run {attrs.get('run_name')}, created {attrs.get('created')}, "
            f"irn_core {attrs.get('irn_core_version')}"
        )
        p(f"  content digest {attrs.get('content_digest')}, settings digest {attrs.get('config_digest')}")
        for k, v in sorted(attrs.items()):
            if k.endswith("_digest") and k not in ("content_digest", "config_digest"):
                p(f"  input {k[: -len('_digest')]}: {v}")
        classes = json.loads(attrs["classes"]) if "classes" in attrs else None
        if classes:
            p(f"  classes: {', '.join(f'{i} {c}' for i, c in enumerate(classes))}")
        p(f"  settings: {attrs.get('config_json', '{}')}")
        p(f"  images: {len(ids)}" + (f" ({ids[0]} ... {ids[-1]})" if ids else ""))
        if not ids:
            return
        p(f"  datasets of each image (shapes of {ids[0]}):")
        for name, d in f[ids[0]].items():
            a = dict(d.attrs)
            extra = ", ".join(f"{k} {a[k]}" for k in ("stride", "units", "range") if k in a)
            p(
                f"    {name:<11} {d.dtype!s:<8} {d.shape!s:<16} {a.get('meaning', '')}"
                + (f" ({extra})" if extra else "")
            )
            if name in ("keys", "classes") and classes and d.size:
                p(f"    {'':<11} {'':<8} {'':<16} = {', '.join(classes[int(k)] for k in d[()])}")
        if every_image:
            for image_id in ids:
                shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in f[image_id].items())
                p(f"  {image_id}: {shapes}")


def show(run_dir: str, image_id: str, out: str | None) -> Path:
    from .figures import image_panels, save_panels

    panels = image_panels(run_dir, image_id)
    return save_panels(panels, out or f"{image_id}.png", title=f"{Path(run_dir).name}: {image_id}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="irn", description="Inspect the files and results of an IRNet run.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("inspect", help="explain a stage file (HDF5): provenance, images, datasets")
    p.add_argument("file")
    p.add_argument("--all", action="store_true", help="also list every image's datasets")
    p = sub.add_parser("show", help="one panel per stage for one image of a run")
    p.add_argument("run_dir", help="the run's folder, results/<run_name>")
    p.add_argument("image_id")
    p.add_argument("-o", "--output", help="PNG to write (default IMAGE_ID.png)")
    args = parser.parse_args(argv)
    try:
        if args.command == "inspect":
            inspect(args.file, args.all)
        else:
            print(show(args.run_dir, args.image_id, args.output))
    except (OSError, KeyError, ValueError) as err:
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"irn {args.command}: {msg}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
