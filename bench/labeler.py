"""Benchmark the Labeler's Python side: showing a sample, applying a brush stroke, memory.

No browser: widgets get a recording comm that serializes every message the way the
kernel would (JSON part + binary buffers) and counts the bytes, so "send" is
measured up to bytes ready for the websocket.

Scenarios (synthetic photos with elliptical instance masks, written as JPEG):

* ``1080p``: 1920x1080, 30 proposals;
* ``8000x6000``: 48 MP, 300 proposals.

For each: time to show a sample (``session.goto``: FiftyOne read + decode + overlay
render + encode + send; the widget's part is also reported alone), and time to
apply a brush stroke (``mouse down/move/up`` -> ``session.paint`` -> overlay
re-render + encode + send). The naive way is measured in the same run: full
resolution ``put_image_data`` of the decoded image plus one ``put_image_data`` per
mask (and, for a stroke, redrawing every mask). Also per scenario: ``next()`` when
the background had time to prepare the next sample ("read ahead"), and the Python
side and bytes of ``Tab`` / ``a``. Memory: RSS growth over 1,000 ``next()`` calls on
a 10,000-sample dataset. Stall: the UI-thread time of each ``next()`` over 40
8000x6000 samples with 300 masks each, the store's read-ahead window read in the
background (now) vs in the caller's thread (as ``load(ahead=...)`` did), same run.

Usage::

    .venv/bin/python bench/labeler.py            # everything (~10-15 min on 2 busy cores)
    .venv/bin/python bench/labeler.py --quick    # fewer repetitions, 2,000-sample memory run
    .venv/bin/python bench/labeler.py --only 1080p,stall   # some sections

Targets: show <= 50 ms and stroke <= 30 ms median at 1080p; show <= 500 ms at
8000x6000; read-ahead show <= 20 ms at 1080p and <= 150 ms at 8000x6000; memory
growth < 100 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# isolate FiftyOne before anything imports it
_DB = tempfile.mkdtemp(prefix="labelkit-bench-db-")
os.environ["FIFTYONE_DATABASE_DIR"] = _DB
os.environ.pop("FIFTYONE_DATABASE_URI", None)
os.environ["FIFTYONE_DO_NOT_TRACK"] = "true"
os.environ["FIFTYONE_DATABASE_VALIDATION"] = "false"
os.environ.setdefault("LABELKIT_ANNOTATOR", "bench")

import shutil  # noqa: E402

import numpy as np  # noqa: E402
from _stats import percentile  # noqa: E402 - bench/ is the script's folder


def _private_database() -> None:
    """Make FiftyOne start a database of our own in ``_DB`` (as bench/propose.py does).

    FiftyOne's ``DatabaseService`` attaches to *any* running FiftyOne database
    service on the machine (found by its ``--51-service db --multi`` arguments,
    whatever its folder), so a temporary ``FIFTYONE_DATABASE_DIR`` alone does not
    isolate the benchmark while someone else runs FiftyOne: start a single-client
    service that never attaches and that nobody attaches to.
    """
    import fiftyone.core.service as fos

    fos.DatabaseService.start = fos.Service.start
    fos.DatabaseService._service_args = property(lambda self: ["--51-service", self.service_name])


def _stop_database() -> None:
    """Stop this run's MongoDB, then delete its temporary folder."""
    try:
        import fiftyone.core.odm.database as fod

        fod._disconnect()
        service = fod._db_service
        if service is not None and service.child is not None:
            child = service.child
            service.stop()
            child.wait(timeout=60)
    except Exception as exc:  # noqa: BLE001 - best effort
        print(f"(could not stop the benchmark database cleanly: {exc})", file=sys.stderr)
    shutil.rmtree(_DB, ignore_errors=True)


# --------------------------------------------------------------- recording comm


class _Counter:
    messages = 0
    bytes = 0

    @classmethod
    def reset(cls) -> None:
        cls.messages = 0
        cls.bytes = 0


def _install_recording_comm() -> None:
    import comm
    from comm import BaseComm

    class RecordingComm(BaseComm):
        """A comm that serializes each message like ipykernel's session does and
        counts the bytes (JSON + binary buffers), then drops it."""

        def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
            payload = json.dumps(
                {"data": data or {}, "metadata": metadata or {}, "comm_id": self.comm_id},
                default=str,
                separators=(",", ":"),
            ).encode()
            n = len(payload)
            for b in buffers or []:
                n += memoryview(b).nbytes
            _Counter.messages += 1
            _Counter.bytes += n

    comm.create_comm = lambda *a, **k: RecordingComm(*a, **k)


_install_recording_comm()

# ------------------------------------------------------------------- fixtures


def _photo(width: int, height: int, seed: int) -> np.ndarray:
    """A photo-like image: a real photograph resized, with mild grain (uint8 math:
    a 48 MP float copy would need gigabytes)."""
    import cv2
    from skimage import data

    base = [data.astronaut(), data.coffee(), data.chelsea()][seed % 3]
    img = cv2.resize(base, (width, height), interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(seed)
    grain = rng.integers(0, 12, size=(height // 2 + 1, width // 2 + 1), dtype=np.uint8)
    grain = cv2.resize(grain, (width, height), interpolation=cv2.INTER_NEAREST)
    return cv2.add(img, cv2.merge([grain, grain, grain]))


def _proposals(fo, width: int, height: int, n: int, seed: int, size: tuple[int, int]):
    rng = np.random.default_rng(seed)
    dets = []
    for _ in range(n):
        w, h = (int(v) for v in rng.integers(size[0], size[1], 2))
        x0 = int(rng.integers(0, width - w))
        y0 = int(rng.integers(0, height - h))
        yy, xx = np.mgrid[0:h, 0:w]
        mask = ((xx - w / 2 + 0.5) / (w / 2)) ** 2 + ((yy - h / 2 + 0.5) / (h / 2)) ** 2 <= 1.0
        dets.append(
            fo.Detection(
                label=str(rng.choice(["ball", "mug", "book"])),
                bounding_box=[x0 / width, y0 / height, w / width, h / height],
                mask=mask,
                confidence=float(rng.uniform(0.3, 1.0)),
            )
        )
    return fo.Detections(detections=dets)


def _dataset(fo, name: str, folder: Path, width: int, height: int, n_props: int, n_samples: int, size):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    ds = fo.Dataset(name)
    samples = []
    for i in range(n_samples):
        p = folder / f"{name}-{i}.jpg"
        Image.fromarray(_photo(width, height, i)).save(p, quality=90)
        s = fo.Sample(filepath=str(p), metadata=fo.ImageMetadata(width=width, height=height))
        s["predictions"] = _proposals(fo, width, height, n_props, i, size)
        samples.append(s)
    ds.add_samples(samples, progress=False)
    return ds


# ---------------------------------------------------------------------- naive


def _naive_show(canvas, session) -> float:
    """Full-resolution put_image_data of the raw image + one put_image_data per mask."""
    from ipycanvas import hold_canvas

    from labelkit.media.image import read_image
    from labelkit.widgets.render import instance_color

    t0 = time.perf_counter()
    img = read_image(session.filepath)
    with hold_canvas():
        canvas[0].put_image_data(img, 0, 0)
        _naive_masks(canvas[1], session, instance_color)
    return (time.perf_counter() - t0) * 1e3


def _naive_masks(layer, session, instance_color) -> None:
    layer.clear()
    for inst in session.instances:
        if inst.box is None:
            continue
        x0, y0, _, _ = inst.box
        rgba = np.zeros((*inst.crop.shape, 4), np.uint8)
        rgba[inst.crop] = (*instance_color(inst.k), 110)
        layer.put_image_data(rgba, x0, y0)


# -------------------------------------------------------------------- measure


def _median(xs):
    return statistics.median(xs) if xs else float("nan")




def bench_stall(fo, n_samples: int, n_props: int, size, folder: Path, think_s: float) -> dict:
    """UI-thread time of each ``next()`` over a run of ``n_samples`` 8000x6000 samples
    with ``n_props`` masks each, with the store's read-ahead window read in the
    background (labelkit now) and, in the same run, synchronously in the caller's
    thread (as ``ReviewStore.load(ahead=...)`` did before: ``sync``). Between moves the
    "reviewer" looks at the sample for ``think_s`` seconds; the background work is not
    waited for beyond that, so a move that comes while the window is still being read
    pays whatever waiting that causes."""
    from PIL import Image

    from labelkit.review.session import PREFETCH, ReviewSession
    from labelkit.widgets import Labeler

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(3):  # three 48 MP photos, shared by the samples (the masks differ)
        p = folder / f"stall-{i}.jpg"
        Image.fromarray(_photo(8000, 6000, i)).save(p, quality=90)
        paths.append(str(p))
    ds = fo.Dataset("bench-stall")
    samples = []
    for i in range(n_samples):
        sm = fo.Sample(filepath=paths[i % 3], metadata=fo.ImageMetadata(width=8000, height=6000))
        sm["predictions"] = _proposals(fo, 8000, 6000, n_props, 1000 + i, size)
        samples.append(sm)
    ds.add_samples(samples, progress=False)
    out = {"samples": n_samples, "proposals": n_props, "mask_px": list(size), "think_s": think_s}
    background = ReviewSession._schedule_window
    try:
        for mode in ("background", "sync"):
            if mode == "sync":  # the earlier behaviour: the window read inside load()
                ReviewSession._schedule_window = (
                    lambda self, index: self.store._prefetch(self._ids[index : index + PREFETCH]))
            t0 = time.perf_counter()
            lab = Labeler(ReviewSession(ds), canvas_size=(960, 640))
            open_ms = (time.perf_counter() - t0) * 1e3
            s = lab.session
            times, reads = [], 0
            for _ in range(n_samples - 1):
                time.sleep(think_s)
                t0 = time.perf_counter()
                s.next()
                times.append((time.perf_counter() - t0) * 1e3)
            s.wait_ahead(timeout=600)
            lab.close()
            reads = len(s.store._cache or {})
            out[mode] = {
                "open_ms": open_ms,
                "median_ms": _median(times),
                "p99_ms": percentile(times, 0.99),
                "max_ms": max(times),
                "over_1s": sum(t > 1000 for t in times),
                "cached_records": reads,
                "times_ms": [round(t, 1) for t in times],
            }
    finally:
        ReviewSession._schedule_window = background
        fo.delete_dataset(ds.name)
    return out


def bench_scenario(fo, label, width, height, n_props, n_samples, size, reps, strokes, folder):
    from ipycanvas import MultiCanvas, hold_canvas

    from labelkit.widgets import Labeler
    from labelkit.widgets.render import instance_color

    ds = _dataset(fo, f"bench-{label}", folder, width, height, n_props, n_samples, size)
    lab = Labeler(ds, canvas_size=(960, 640))
    s = lab.session
    show, show_cpu, widget, widget_cpu, parts, sent = [], [], [], [], {}, []
    order = [i % n_samples for i in range(1, reps + 1)]
    for i in order:
        _Counter.reset()
        t0, c0 = time.perf_counter(), time.process_time()
        s.goto(i)
        show.append((time.perf_counter() - t0) * 1e3)
        show_cpu.append((time.process_time() - c0) * 1e3)
        widget.append(lab.timings["show_ms"])
        widget_cpu.append(lab.timings["show_cpu_ms"])
        sent.append(_Counter.bytes)
        for k in ("decode_ms", "image_render_ms", "image_encode_ms", "overlay_render_ms", "overlay_encode_ms"):
            parts.setdefault(k, []).append(lab.timings[k])

    # next image when the session had time to read it ahead (a reviewer looks at the
    # current one meanwhile): wait for the background work (the session's read of the
    # next sample and its window, the widget's preview, image JPEG and overlay PNG),
    # then time the move
    ahead, ahead_prepared, ahead_sent = [], [], []
    s.goto(0)
    for _ in range(reps):
        nxt = (s.index + 1) % n_samples
        if nxt == 0:
            s.goto(0)
            continue
        s.wait_ahead(timeout=120)
        if lab._ahead_preview is not None:
            lab._ahead_preview.result()
        _Counter.reset()
        t0 = time.perf_counter()
        s.goto(nxt)
        ahead.append((time.perf_counter() - t0) * 1e3)
        ahead_prepared.append(lab.timings.get("prepared") == 3)
        ahead_sent.append(_Counter.bytes)

    # Tab (select the next instance) and a (accept it), Python side + bytes sent
    s.goto(0)
    keys = {"Tab": [], "a": []}
    keys_sent = {"Tab": [], "a": []}
    for _ in range(reps):
        lab.handle_key("Escape")
        for key in ("Tab", "a"):
            _Counter.reset()
            t0 = time.perf_counter()
            lab.handle_key(key)
            keys[key].append((time.perf_counter() - t0) * 1e3)
            keys_sent[key].append(_Counter.bytes)
        lab.handle_key("z", ctrl=True)

    # brush strokes on the selected (largest) instance, at the fitted view
    s.goto(0)
    k = max(s.instances, key=lambda i: i.area).k
    s.select(k)
    lab.set_tool("brush")
    x0, y0, x1, y1 = s.instance(k).box
    stroke, stroke_cpu, stroke_sent = [], [], []
    def stroke_points(j):
        # from inside the instance to beyond its right edge: every stroke adds pixels
        cy = y0 + (y1 - y0) * (0.1 + 0.8 * j / max(strokes, 1))
        xe = min(x1 + (x1 - x0) * 0.3, width - 1)
        return [(x, cy) for x in np.linspace(x0 + (x1 - x0) * 0.5, xe, 20)]

    for j in range(strokes):
        pts = [lab.vp.to_canvas(*p) for p in stroke_points(j)]
        _Counter.reset()
        t0, c0 = time.perf_counter(), time.process_time()
        lab.handle_mouse_down(*pts[0])
        for p in pts[1:]:
            lab.handle_mouse_move(*p)
        lab.handle_mouse_up(*pts[-1])
        stroke.append((time.perf_counter() - t0) * 1e3)
        stroke_cpu.append((time.process_time() - c0) * 1e3)
        stroke_sent.append(_Counter.bytes)
        assert lab.timings.get("stroke_ms") is not None
    assert s.instance(k).edits >= strokes, "every benchmark stroke must change the mask"

    # naive way, same samples, same run
    naive_canvas = MultiCanvas(2, width=width, height=height)
    naive_show, naive_cpu, naive_sent = [], [], []
    for i in order[: max(3, reps // 2)]:
        s.goto(i)
        _Counter.reset()
        c0 = time.process_time()
        naive_show.append(_naive_show(naive_canvas, s))
        naive_cpu.append((time.process_time() - c0) * 1e3)
        naive_sent.append(_Counter.bytes)
    s.goto(0)
    s.select(k)
    naive_stroke, naive_stroke_cpu = [], []
    for j in range(max(3, strokes // 2)):
        pts = stroke_points(j)
        t0, c0 = time.perf_counter(), time.process_time()
        s.paint(k, pts, 10 / lab.vp.scale)
        with hold_canvas():
            _naive_masks(naive_canvas[1], s, instance_color)
        naive_stroke.append((time.perf_counter() - t0) * 1e3)
        naive_stroke_cpu.append((time.process_time() - c0) * 1e3)
    lab.close()
    fo.delete_dataset(ds.name)
    return {
        "scenario": label,
        "image": f"{width}x{height}",
        "proposals": n_props,
        "show_ms": _median(show),
        "show_ahead_ms": _median(ahead),
        "show_ahead_p95_ms": percentile(ahead, 0.95),
        "show_ahead_prepared": f"{sum(ahead_prepared)}/{len(ahead_prepared)}",
        "show_ahead_bytes": int(_median(ahead_sent)),
        "tab_ms": _median(keys["Tab"]),
        "tab_bytes": int(_median(keys_sent["Tab"])),
        "accept_ms": _median(keys["a"]),
        "accept_bytes": int(_median(keys_sent["a"])),
        "show_cpu_ms": _median(show_cpu),
        "show_widget_ms": _median(widget),
        "show_widget_cpu_ms": _median(widget_cpu),
        "show_parts_ms": {k: round(_median(v), 1) for k, v in parts.items()},
        "show_bytes": int(_median(sent)),
        "stroke_ms": _median(stroke),
        "stroke_cpu_ms": _median(stroke_cpu),
        "stroke_bytes": int(_median(stroke_sent)),
        "naive_show_ms": _median(naive_show),
        "naive_show_cpu_ms": _median(naive_cpu),
        "naive_show_bytes": int(_median(naive_sent)),
        "naive_stroke_ms": _median(naive_stroke),
        "naive_stroke_cpu_ms": _median(naive_stroke_cpu),
    }


def bench_memory(fo, n_samples: int, n_next: int, folder: Path) -> dict:
    import psutil
    from PIL import Image

    from labelkit.widgets import Labeler

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(20):
        p = folder / f"mem-{i}.jpg"
        Image.fromarray(_photo(640, 480, i)).save(p, quality=85)
        paths.append(str(p))
    ds = fo.Dataset("bench-memory")
    batch = []
    for i in range(n_samples):
        s = fo.Sample(filepath=paths[i % 20], metadata=fo.ImageMetadata(width=640, height=480))
        s["predictions"] = _proposals(fo, 640, 480, 5, i % 50, (30, 120))
        batch.append(s)
        if len(batch) == 1000:
            ds.add_samples(batch, progress=False)
            batch = []
    if batch:
        ds.add_samples(batch, progress=False)
    lab = Labeler(ds, canvas_size=(960, 640))
    s = lab.session
    for _ in range(50):  # warm-up: caches, allocator
        s.next()
    proc = psutil.Process()
    rss0 = proc.memory_info().rss
    t0 = time.perf_counter()
    for _ in range(n_next):
        s.next()
    dt = time.perf_counter() - t0
    rss1 = proc.memory_info().rss
    lab.close()
    fo.delete_dataset(ds.name)
    return {
        "samples": n_samples,
        "next_calls": n_next,
        "rss_before_mb": rss0 / 2**20,
        "rss_after_mb": rss1 / 2**20,
        "growth_mb": (rss1 - rss0) / 2**20,
        "next_ms": dt / n_next * 1e3,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions, smaller memory run")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--only", default="1080p,8000x6000,memory,stall",
                    help="comma-separated sections to run (default: all): 1080p, 8000x6000, memory, stall")
    ap.add_argument("--stall-samples", type=int, default=40, help="samples of the stall run (default 40)")
    ap.add_argument("--stall-think", type=float, default=2.0,
                    help="seconds the stall run looks at each sample before moving on (default 2)")
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args(argv)

    _private_database()
    import fiftyone as fo

    try:
        return _run(fo, args)
    finally:
        _stop_database()


def _run(fo, args) -> int:
    reps = 6 if args.quick else 12
    strokes = 8 if args.quick else 20
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    out: dict = {"python": sys.version.split()[0], "cpus": os.cpu_count(), "load_at_start": _load()}
    print(f"load average (1/5/15 min) at start: {out['load_at_start']} on {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory(prefix="labelkit-bench-img-") as tmp:
        tmp = Path(tmp)
        if "1080p" in only:
            out["1080p"] = bench_scenario(fo, "1080p", 1920, 1080, 30, 4, (60, 360), reps, strokes, tmp)
            _report_scenario(out["1080p"], show_target=50, stroke_target=30, ahead_target=20)
        if "8000x6000" in only:
            out["8000x6000"] = bench_scenario(
                fo, "8000x6000", 8000, 6000, 300, 3, (120, 900), max(3, reps // 2), max(4, strokes // 2), tmp
            )
            _report_scenario(out["8000x6000"], show_target=500, stroke_target=None, ahead_target=150)
        if "stall" in only:
            out["stall"] = bench_stall(fo, args.stall_samples, 300, (60, 400), tmp, think_s=args.stall_think)
            _report_stall(out["stall"])
        if not args.skip_memory and "memory" in only:
            n = 2000 if args.quick else 10_000
            out["memory"] = bench_memory(fo, n, 1000, tmp)
            m = out["memory"]
            ok = "PASS" if m["growth_mb"] < 100 else "FAIL"
            print(
                f"memory: {m['next_calls']} next() over {m['samples']:,} samples: RSS "
                f"{m['rss_before_mb']:.0f} -> {m['rss_after_mb']:.0f} MB "
                f"(+{m['growth_mb']:.1f} MB, target < 100) {ok}; {m['next_ms']:.1f} ms per next()"
            )
    out["load_at_end"] = _load()
    print(f"load average at end: {out['load_at_end']}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def _report_stall(r: dict) -> None:
    print(f"\n== read-ahead window: {r['samples']} samples 8000x6000, {r['proposals']} masks each "
          f"({r['mask_px'][0]}-{r['mask_px'][1]} px), {r['think_s']} s per sample; UI-thread ms per next()")
    for mode in ("background", "sync"):
        m = r[mode]
        print(f"  {mode:<10} open {m['open_ms']:7.0f}  median {m['median_ms']:7.1f}  p99 {m['p99_ms']:7.1f}  "
              f"max {m['max_ms']:7.1f}  "
              f"> 1 s: {m['over_1s']}  (records cached at the end: {m['cached_records']})")


def _report_scenario(r: dict, show_target: float, stroke_target: float | None,
                     ahead_target: float | None = None) -> None:
    def verdict(ms, target):
        return "" if target is None else (" PASS" if ms <= target else " FAIL")

    print(f"\n== {r['scenario']}: {r['image']}, {r['proposals']} proposals   (wall ms / CPU ms, medians)")
    print(
        f"show, widget (decode + overlay + encode + send): {r['show_widget_ms']:.1f} / "
        f"{r['show_widget_cpu_ms']:.1f} ms (target <= {show_target}){verdict(r['show_widget_ms'], show_target)}"
        f"  parts: {r['show_parts_ms']}"
    )
    print(
        f"show, end to end (session.goto: + FiftyOne read of the sample): {r['show_ms']:.1f} / "
        f"{r['show_cpu_ms']:.1f} ms{verdict(r['show_ms'], show_target)}; {r['show_bytes'] / 1024:.0f} KiB sent"
    )
    print(
        f"show, end to end when read ahead (the next sample prepared in the background while the "
        f"current one is reviewed): {r['show_ahead_ms']:.1f} ms (p95 {r['show_ahead_p95_ms']:.1f})"
        + ("" if ahead_target is None else f" (target <= {ahead_target}){verdict(r['show_ahead_ms'], ahead_target)}")
        + f"; prepared overlay+image used {r['show_ahead_prepared']}; {r['show_ahead_bytes'] / 1024:.0f} KiB sent"
        f"  (vs {r['show_ms']:.1f} without time to read ahead)"
    )
    print(
        f"Tab (select next): {r['tab_ms']:.1f} ms, {r['tab_bytes'] / 1024:.1f} KiB sent; "
        f"a (accept): {r['accept_ms']:.1f} ms, {r['accept_bytes'] / 1024:.1f} KiB sent (Python side, all messages)"
    )
    print(
        f"  naive (full-res read + put_image_data + one per mask): {r['naive_show_ms']:.1f} / "
        f"{r['naive_show_cpu_ms']:.1f} ms, {r['naive_show_bytes'] / 1024:.0f} KiB -> widget part "
        f"{r['naive_show_ms'] / r['show_widget_ms']:.1f}x faster (CPU "
        f"{r['naive_show_cpu_ms'] / max(r['show_widget_cpu_ms'], 1e-3):.1f}x), "
        f"{r['naive_show_bytes'] / max(r['show_bytes'], 1):.0f}x fewer bytes"
    )
    print(
        f"brush stroke (20 points: paint + overlay + send): {r['stroke_ms']:.1f} / {r['stroke_cpu_ms']:.1f} ms"
        + ("" if stroke_target is None else f" (target <= {stroke_target})")
        + verdict(r["stroke_ms"], stroke_target)
        + f"; {r['stroke_bytes'] / 1024:.0f} KiB sent; naive redraw {r['naive_stroke_ms']:.1f} / "
        f"{r['naive_stroke_cpu_ms']:.1f} ms ({r['naive_stroke_ms'] / r['stroke_ms']:.1f}x)"
    )


if __name__ == "__main__":
    raise SystemExit(main())
