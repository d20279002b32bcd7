"""Write the bundled sample splits with :mod:`labelkit.synth`.

Usage (from the repository root)::

    python sample_data/make_sample_data.py            # all four splits
    python sample_data/make_sample_data.py --out DIR  # somewhere else

Splits (320x240 JPEG, quality 90, COCO instance masks in ``annotations.json``):

=====================  ======  ====  ==========================================
split                  images  seed  content
=====================  ======  ====  ==========================================
known-train            400     1000  ball/mug/book on wood/tiles/fabric, normal light
known-val              60      2000  same distribution, different seeds
shifted-background     60      3000  known classes on grass/marble/confetti, dim/cast/vignette
shifted-newclass       60      4000  known scenes plus at least one "donut" per image
=====================  ======  ====  ==========================================

Deterministic: running it twice writes identical files.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labelkit.synth import scenes as synth  # noqa: E402

WIDTH, HEIGHT, QUALITY = 320, 240, 90
SPLITS: dict[str, tuple[int, int, str]] = {
    # name: (n_images, seed, variant)
    "known-train": (400, 1000, "known"),
    "known-val": (60, 2000, "known"),
    "shifted-background": (60, 3000, "shifted-background"),
    "shifted-newclass": (60, 4000, "shifted-newclass"),
}


def main(argv: list[str] | None = None) -> int:
    """Write every split; print image/instance counts and sizes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "sample_data", help="parent folder of the splits")
    parser.add_argument("--only", nargs="*", choices=sorted(SPLITS), help="write only these splits")
    args = parser.parse_args(argv)
    total = 0
    for name, (n, seed, variant) in SPLITS.items():
        if args.only and name not in args.only:
            continue
        t0 = time.perf_counter()
        ann = synth.write_split(args.out / name, n, seed, variant, WIDTH, HEIGHT, QUALITY)
        size = sum(p.stat().st_size for p in (args.out / name).rglob("*") if p.is_file())
        total += size
        import json

        coco = json.loads(ann.read_text())
        counts = {c["name"]: 0 for c in coco["categories"]}
        names = {c["id"]: c["name"] for c in coco["categories"]}
        for a in coco["annotations"]:
            counts[names[a["category_id"]]] += 1
        print(
            f"{name:20s} {n:4d} images {len(coco['annotations']):5d} instances {counts} "
            f"{size / 1e6:6.2f} MB  {time.perf_counter() - t0:5.1f} s"
        )
    print(f"total {total / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
