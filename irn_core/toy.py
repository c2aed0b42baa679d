"""The built-in toy dataset: textured shapes on cluttered backgrounds, in PASCAL VOC layout.

Classes differ by shape AND texture; colours are drawn from one distribution shared by all
classes and by the background clutter, so colour alone never identifies a class. Same-class
instances are often placed touching or overlapping, so that separating instances matters.
Everything is a deterministic function of the seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
from PIL import Image

from .voc import save_palette_png

TOY_CLASSES = ("disc", "square", "triangle", "star")


@dataclass(frozen=True)
class ToySettings:
    n_train: int = 600
    n_val: int = 150
    seed: int = 0
    min_size: int = 160  # image side length range, pixels
    max_size: int = 224
    min_instances: int = 1
    max_instances: int = 6
    min_radius: int = 14  # object radius range, pixels
    max_radius: int = 36
    touch_prob: float = 0.65  # chance that a new instance is placed against a same-class one
    touch: str = "radii"  # against it by the radii ("radii") or where the shapes meet ("shapes")
    clutter: int = 14  # mean number of background distractors
    year: str = "2019"

    def __post_init__(self):
        if self.touch not in ("radii", "shapes"):
            raise ValueError(f"toy.touch: {self.touch!r} is not one of radii, shapes")


def _shape_mask(cls: int, yy: np.ndarray, xx: np.ndarray, r: float, angle: float) -> np.ndarray:
    """Boolean mask of a class shape centred at the origin of (yy, xx)."""
    c, s = math.cos(angle), math.sin(angle)
    u, v = c * xx + s * yy, -s * xx + c * yy
    if cls == 0:  # disc
        return u * u + v * v <= r * r
    if cls == 1:  # square
        h = r * 0.82
        return (np.abs(u) <= h) & (np.abs(v) <= h)
    if cls == 2:  # equilateral triangle
        inside = np.ones_like(u, dtype=bool)
        for k in range(3):
            a = angle + k * 2 * math.pi / 3
            inside &= (math.cos(a) * xx + math.sin(a) * yy) <= r * 0.55
        return inside
    # five-pointed star
    rho = np.sqrt(u * u + v * v)
    theta = np.arctan2(v, u)
    edge = r * (0.5 + 0.5 * np.abs(np.cos(2.5 * theta)) ** 1.5)
    return rho <= edge


def _texture(cls: int, yy: np.ndarray, xx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Texture in [0, 1] for a class: stripes, checkerboard, dots, or concentric rings."""
    angle = rng.uniform(0, math.pi)
    c, s = math.cos(angle), math.sin(angle)
    u, v = c * xx + s * yy, -s * xx + c * yy
    if cls == 0:  # stripes
        period = rng.uniform(5, 8)
        return (np.sin(2 * math.pi * u / period) > 0).astype(np.float32)
    if cls == 1:  # checkerboard
        period = rng.uniform(6, 10)
        return ((np.floor(u / period) + np.floor(v / period)) % 2).astype(np.float32)
    if cls == 2:  # dots
        period = rng.uniform(6, 9)
        du = (u % period) - period / 2
        dv = (v % period) - period / 2
        return (du * du + dv * dv <= (period * 0.3) ** 2).astype(np.float32)
    period = rng.uniform(5, 8)  # rings
    return (np.sin(2 * math.pi * np.sqrt(xx * xx + yy * yy) / period) > 0).astype(np.float32)


def _colour_pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two contrasting colours from the distribution shared by every class and the clutter."""
    a = rng.uniform(0, 255, 3)
    b = rng.uniform(0, 255, 3)
    while np.abs(a - b).sum() < 180:
        b = rng.uniform(0, 255, 3)
    return a, b


def _background(h: int, w: int, rng: np.random.Generator, clutter: int) -> np.ndarray:
    """Low-frequency noise field plus line segments and noisy blobs: (H, W, 3) float."""
    coarse = rng.uniform(0, 1, (h // 16 + 2, w // 16 + 2))
    field = (
        np.asarray(Image.fromarray((coarse * 255).astype(np.uint8)).resize((w, h), Image.BICUBIC), dtype=np.float32)
        / 255.0
    )
    a, b = _colour_pair(rng)
    img = field[..., None] * a + (1 - field[..., None]) * b
    img += rng.normal(0, 12, (h, w, 1))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for _ in range(rng.poisson(clutter)):
        colour = rng.uniform(0, 255, 3)
        if rng.random() < 0.5:  # line segment
            y0, x0 = rng.uniform(0, h), rng.uniform(0, w)
            ang, length, width = rng.uniform(0, math.pi), rng.uniform(15, 60), rng.uniform(1, 3)
            dy, dx = math.sin(ang), math.cos(ang)
            t = np.clip((yy - y0) * dy + (xx - x0) * dx, 0, length)
            dist = np.hypot(yy - (y0 + t * dy), xx - (x0 + t * dx))
            m = dist <= width
        else:  # irregular noisy blob
            y0, x0 = rng.uniform(0, h), rng.uniform(0, w)
            ry, rx = rng.uniform(3, 12), rng.uniform(3, 12)
            m = ((yy - y0) / ry) ** 2 + ((xx - x0) / rx) ** 2 <= 1
            colour = colour + rng.normal(0, 25, (int(m.sum()), 3)) if m.any() else colour
        img[m] = colour
    return img


def touch_distance(cls: int, r_a: float, angle_a: float, r_b: float, angle_b: float, direction: float) -> float:
    """Distance between the centres at which shape b, coming from far along ``direction`` (radians,
    x = cos, y = sin) towards shape a (both of class ``cls``), first touches it.

    Exact for any shape up to the 0.25 px sampling: along the approach only points on the same line
    parallel to it can meet, so per line it is a's farthest point minus b's nearest one, and the
    first contact is the largest of these (two discs: r_a + r_b; two squares side on: 0.82 (r_a + r_b)).
    """
    c, s = math.cos(direction), math.sin(direction)
    reach = {}
    for name, r, angle in (("a", r_a, angle_a), ("b", r_b, angle_b)):
        ext = 1.2 * r
        yy, xx = np.mgrid[-ext:ext:0.25, -ext:ext:0.25].astype(np.float32)
        m = _shape_mask(cls, yy, xx, r, angle)
        along = (c * xx + s * yy)[m]  # coordinate along the approach
        line = np.round((-s * xx + c * yy)[m] * 4).astype(np.int64)  # which line, 0.25 px apart
        order = np.argsort(line, kind="stable")
        keys, start = np.unique(line[order], return_index=True)
        pick = np.maximum if name == "a" else np.minimum
        reach[name] = dict(zip(keys.tolist(), pick.reduceat(along[order], start).tolist()))
    common = reach["a"].keys() & reach["b"].keys()
    return max(reach["a"][k] - reach["b"][k] for k in common)


def _place(rng, h, w, placed, cls, s: ToySettings):
    """Pick centre, radius and (with ``touch: shapes``) angle: against a same-class instance
    (touching) or free-standing. With ``touch: radii`` the angle is None (drawn afterwards)."""
    r = rng.uniform(s.min_radius, min(s.max_radius, min(h, w) / 3.2))
    angle = rng.uniform(0, 2 * math.pi) if s.touch == "shapes" else None
    same = [p for p in placed if p[0] == cls]
    if same and rng.random() < s.touch_prob:
        _, cy, cx, pr, pangle, _ = same[rng.integers(len(same))]
        ang = rng.uniform(0, 2 * math.pi)
        if s.touch == "shapes":  # overlap a little, measured on the shapes themselves: they touch
            d = touch_distance(cls, pr, pangle, r, angle, ang) * rng.uniform(0.72, 0.92)
        else:  # overlap a little by the radii (triangles and stars may keep a gap)
            d = (pr + r) * rng.uniform(0.72, 0.92)
        y, x = cy + d * math.sin(ang), cx + d * math.cos(ang)
        if r <= y < h - r and r <= x < w - r:
            return y, x, r, angle, True
    for _ in range(60):
        y, x = rng.uniform(r, h - r), rng.uniform(r, w - r)
        if all(math.hypot(y - py, x - px) > (r + pr) * 1.05 for _, py, px, pr, _, _ in placed):
            return y, x, r, angle, False
    return None


def render_image(rng: np.random.Generator, s: ToySettings):
    """One toy image: (H, W, 3) uint8, instance index map, class index map, list of classes."""
    h, w = (int(v) for v in rng.integers(s.min_size, s.max_size + 1, 2))
    img = _background(h, w, rng, s.clutter)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    inst = np.zeros((h, w), np.uint8)
    n = int(rng.integers(s.min_instances, s.max_instances + 1))
    placed = []
    for _ in range(n):
        cls = int(rng.integers(len(TOY_CLASSES)))
        # reuse a class already present half of the time so that same-class neighbours are common
        if placed and rng.random() < 0.6:
            cls = placed[rng.integers(len(placed))][0]
        spot = _place(rng, h, w, placed, cls, s)
        if spot is None:
            continue
        y, x, r, angle, touching = spot
        if angle is None:
            angle = rng.uniform(0, 2 * math.pi)
        m = _shape_mask(cls, yy - y, xx - x, r, angle)
        tex = _texture(cls, yy - y, xx - x, rng)[m][:, None]
        a, b = _colour_pair(rng)
        img[m] = tex * a + (1 - tex) * b + rng.normal(0, 8, (int(m.sum()), 3))
        placed.append((cls, y, x, r, angle, touching))
        inst[m] = len(placed)
    # instances that are almost fully hidden are removed from the annotations (set to background
    # would be wrong: their pixels show the object), so renumber visible ones and keep them all
    keep = [k for k in range(1, len(placed) + 1) if (inst == k).sum() >= 20]
    remap = np.zeros(len(placed) + 1, np.uint8)
    for new, old in enumerate(keep, start=1):
        remap[old] = new
    inst = remap[inst]
    classes = [placed[k - 1][0] for k in keep]
    sem = np.zeros((h, w), np.uint8)
    for new, c in enumerate(classes, start=1):
        sem[inst == new] = c + 1
    img = np.clip(img, 0, 255).astype(np.uint8)
    return img, inst, sem, classes


def _xml(image_id: str, h: int, w: int, inst: np.ndarray, classes: list[int]) -> str:
    objs = []
    for k, c in enumerate(classes, start=1):
        ys, xs = np.nonzero(inst == k)
        objs.append(
            f"  <object>\n    <name>{escape(TOY_CLASSES[c])}</name>\n    <pose>Unspecified</pose>\n"
            f"    <truncated>0</truncated>\n    <difficult>0</difficult>\n    <bndbox>\n"
            f"      <xmin>{xs.min() + 1}</xmin>\n      <ymin>{ys.min() + 1}</ymin>\n"
            f"      <xmax>{xs.max() + 1}</xmax>\n      <ymax>{ys.max() + 1}</ymax>\n    </bndbox>\n  </object>\n"
        )
    return (
        f"<annotation>\n  <folder>TOY</folder>\n  <filename>{image_id}.jpg</filename>\n"
        f"  <size>\n    <width>{w}</width>\n    <height>{h}</height>\n    <depth>3</depth>\n  </size>\n"
        f"  <segmented>1</segmented>\n{''.join(objs)}</annotation>\n"
    )


def touching_same_class(inst: np.ndarray, sem: np.ndarray) -> bool:
    """True when two instances of the same class share a 4-connected border."""
    pairs = set()
    for a, b, ca, cb in (
        (inst[1:], inst[:-1], sem[1:], sem[:-1]),
        (inst[:, 1:], inst[:, :-1], sem[:, 1:], sem[:, :-1]),
    ):
        m = (a != b) & (a > 0) & (b > 0) & (ca == cb)
        pairs.update(zip(a[m].tolist(), b[m].tolist()))
    return bool(pairs)


def write_toy_dataset(root: str | Path, s: ToySettings) -> dict:
    """Generate the toy set under ``root`` in VOC layout; returns simple statistics."""
    root = Path(root)
    for sub in ("JPEGImages", "Annotations", "SegmentationClass", "SegmentationObject", "ImageSets/Segmentation"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    splits = {"train": [], "val": []}
    n_touch = 0
    n_total = s.n_train + s.n_val
    for i in range(n_total):
        rng = np.random.default_rng([s.seed, i])
        image_id = f"{s.year}_{i + 1:06d}"
        img, inst, sem, classes = render_image(rng, s)
        while not classes:  # every image carries at least one object
            img, inst, sem, classes = render_image(rng, s)
        n_touch += touching_same_class(inst, sem)
        Image.fromarray(img).save(root / "JPEGImages" / f"{image_id}.jpg", quality=95)
        (root / "Annotations" / f"{image_id}.xml").write_text(_xml(image_id, *inst.shape, inst, classes))
        save_palette_png(root / "SegmentationClass" / f"{image_id}.png", sem)
        save_palette_png(root / "SegmentationObject" / f"{image_id}.png", inst)
        splits["train" if i < s.n_train else "val"].append(image_id)
    for name, ids in splits.items():
        (root / "ImageSets" / "Segmentation" / f"{name}.txt").write_text("".join(f"{x}\n" for x in ids))
    return {"images": n_total, "touching_fraction": n_touch / max(n_total, 1)}
