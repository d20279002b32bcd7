"""Benchmark: keyframe interpolation vs copying the previous keyframe, on the sample video.

For each keyframe spacing (a person labels every N-th frame: frames 1, 1+N, ...,
and the last), the ground truth of those frames is copied into a field as
keyframes, ``lk.interpolate`` fills the frames between them, and each generated
frame is scored against the full ground truth (``labelkit.video.evaluate_interpolation``):

* scope: per track, the frames strictly between two consecutive keyframes of
  that track where the ground truth has the object;
* mask IoU and box IoU (absolute pixel boxes), averaged over those frames;
* ``extra``: frames where the object is fully hidden (no ground truth) but a
  label was generated (they are not in the means).

Both methods run in the same process on the same keyframes: ``sdf`` (shape
interpolation, the default) and ``copy`` (the naive baseline: hold the previous
keyframe). Motion types come from the sample's ``tracks[].motion``: ``linear``
(rigid book sliding at a constant sub-pixel speed), ``non-linear`` (mug on an
S-curve, accelerating, turning and growing) and ``occlusion`` (ball rolling
behind the book, hidden on frames 30-32).

Usage (from the repository root)::

    .venv/bin/python bench/video.py                  # prints a markdown table
    .venv/bin/python bench/video.py --spacings 2 5 10 20 --json results.json
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# A private FiftyOne database (a mongod of its own, stopped and deleted at exit),
# before anything imports fiftyone: see labelkit.testing.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from labelkit.testing import use_private_database  # noqa: E402

use_private_database(prefix="labelkit-bench-db-")
os.environ["FIFTYONE_DO_NOT_TRACK"] = "true"
os.environ["FIFTYONE_DATABASE_VALIDATION"] = "false"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import pandas as pd  # noqa: E402

import labelkit as lk  # noqa: E402
from labelkit import video as lkv  # noqa: E402

METHODS = ("sdf", "copy")
MOTIONS = ("linear", "non-linear", "occlusion")


def run(spacings: list[int]) -> tuple[pd.DataFrame, dict]:
    ds = lkv.load_sample_video(name="bench-video", overwrite=True)
    motion = {t["id"]: t["motion"] for t in ds.info["labelkit_tracks"]["sample.mp4"]}
    rows, timings = [], {}
    for spacing in spacings:
        for method in METHODS:
            field = f"frames.kf{spacing}_{method}"
            lkv.take_keyframes(ds, "frames.ground_truth", field, every=spacing)
            t0 = time.perf_counter()
            summary = lk.interpolate(ds, field, method=method)
            timings[(spacing, method)] = (time.perf_counter() - t0, summary.interpolated)
            df = lkv.evaluate_interpolation(ds, field)
            df["motion"] = df.track.map(motion)
            df["spacing"], df["method"] = spacing, method
            rows.append(df)
    ds.delete()
    return pd.concat(rows, ignore_index=True), timings


def table(results: pd.DataFrame) -> pd.DataFrame:
    scored = results[results.status != "extra"]
    out = []
    for spacing, by_spacing in scored.groupby("spacing"):
        for motion in (*MOTIONS, "all"):
            part = by_spacing if motion == "all" else by_spacing[by_spacing.motion == motion]
            row = dict(spacing=spacing, motion=motion, frames=int(len(part) // len(METHODS)))
            for method in METHODS:
                m = part[part.method == method]
                row[f"mask_{method}"] = m.mask_iou.mean()
                row[f"box_{method}"] = m.box_iou.mean()
            extra = results[(results.spacing == spacing) & (results.status == "extra") & (results.method == "sdf")]
            row["extra"] = int(len(extra if motion == "all" else extra[extra.motion == motion]))
            out.append(row)
    return pd.DataFrame(out)


def markdown(t: pd.DataFrame) -> str:
    lines = [
        "| spacing | motion | frames | mask IoU interpolate | mask IoU copy-previous | box IoU interpolate | box IoU copy-previous | extra |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in t.itertuples():
        name = f"**{r.motion}**" if r.motion == "all" else r.motion
        lines.append(
            f"| {r.spacing} | {name} | {r.frames} | {r.mask_sdf:.3f} | {r.mask_copy:.3f} | "
            f"{r.box_sdf:.3f} | {r.box_copy:.3f} | {r.extra} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spacings", type=int, nargs="+", default=[2, 5, 10, 20])
    parser.add_argument("--json", help="also write the table (and timings) to this JSON file")
    args = parser.parse_args()
    t0 = time.perf_counter()
    results, timings = run(args.spacings)
    t = table(results)
    print(f"# labelkit video interpolation benchmark ({platform.machine()}, {os.cpu_count()} CPUs, "
          f"total {time.perf_counter() - t0:.1f} s)\n")
    print(markdown(t))
    print()
    for (spacing, method), (sec, n) in timings.items():
        print(f"interpolate spacing={spacing:>2} method={method:<4}: {n:>3} labels in {sec:.2f} s "
              f"({n / sec:.0f} labels/s, incl. database read + write)")
    if args.json:
        payload = dict(table=t.to_dict(orient="records"),
                       timings={f"{s}-{m}": dict(seconds=v[0], labels=v[1]) for (s, m), v in timings.items()})
        with open(args.json, "w") as f:
            json.dump(payload, f, indent=1)


if __name__ == "__main__":
    main()
