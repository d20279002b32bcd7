"""Benchmark the Labeler as a person meets it: in JupyterLab, in headless Chromium.

Two parts, both driven by Playwright on Debian's ``/usr/bin/chromium`` (never
``playwright install``), with JupyterLab started here on a free port with a token
and a private MongoDB (``labelkit.testing.use_private_database()``):

1. **Run All to the first widget**: open ``notebooks/01_quickstart.ipynb``, Run >
   Run All Cells, and time until the Labeler's canvas is painted (its first
   ``labelkit-render-<n>`` marker plus an animation frame); split per cell by
   watching each code cell's prompt turn from ``[*]`` to ``[n]`` in the page.
   *Cold*: the first JupyterLab start, the first kernel, cold OS caches for
   torch; *warm*: the same server, a fresh kernel, the same work again (the
   quickstart's dataset is deleted in between so the cells redo their work).
2. **Key press to pixels** at 1080p (the sample images upscaled to 1920x1080 in a
   temporary folder, proposed by the bundled sample model): ``a`` (accept),
   ``Tab``, a 20-point brush drag (mouse-up to the new mask on screen), ``Enter``
   (submit and show the next image), ``→`` and zoom (``+``). Each try: wait until
   the canvas is still, arm, press, then wait for the widget's render marker to
   move past the armed value (a ``MutationObserver``) and for the canvas pixels to
   differ from the armed ones (checked once per animation frame). Times are from
   the browser event's own ``timeStamp``. Where the time goes: the kernel logs
   each canvas event's Python handler (start/end, epoch ms) to a file, so every
   try splits into *to kernel* (key event -> handler start: the comm uplink),
   *Python* (handler start -> the render marker sent; the Labeler sends the canvas
   message and the marker first, the list, buttons and status line after them:
   the whole handler is reported too), *back to the page* (marker sent -> marker
   in the DOM: the websocket downlink and ipywidgets), and *decode + paint*
   (marker -> pixels on screen, which includes the PNG/JPEG decode in ipycanvas;
   vector commands, e.g. the selection layer, are drawn when their message arrives).
   *Settled* is the last frame whose pixels changed (until 3 frames in a row are
   still): an edit of the selected instance paints in two messages, the selection
   layer's vector commands first and the overlay's PNG patch after, so its first
   response (*total*) and its final state (*settled*) differ.

   With ``--trace`` every kernel message is also timed at each hop (the kernel's
   IOPub thread handing it to ZMQ, the Jupyter server receiving it and handing it to
   the websocket, the page's websocket delivering it; ``bench/_trace.py``), so the
   *back to the page* part splits further. With ``--baseline`` the key timings run
   twice in the same run: first in a server where labelkit's server extension is off
   (``LABELKIT_JUPYTER_NODELAY=0``: Jupyter Server's default, Nagle's algorithm on the
   kernel websocket), then as installed (``labelkit_jupyter``: ``TCP_NODELAY``), and
   the ratios are printed.

Usage::

    .venv/bin/python bench/browser.py              # both parts, 20 tries each (~6-10 min)
    .venv/bin/python bench/browser.py --tries 30 --skip-quickstart
    .venv/bin/python bench/browser.py --baseline --trace   # + Nagle-on baseline, hop by hop
    .venv/bin/python bench/browser.py --json bench/out/browser.json

Targets (issue #14): next image painted <= 100 ms p50 at 1080p; accept/Tab <= 50 ms;
first widget <= 60 s cold. The machine's load average is printed with the results:
on a shared 2-core box the numbers move with the neighbours.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))

from _stats import percentile  # noqa: E402 - bench/ is the script's folder

#: page-side helpers: the render marker (MutationObserver), a pixel hash of the
#: canvas, and the input event's timeStamp; all times are performance.now() ms
PAGE_JS = r"""
() => {
  if (window.__lk) return;
  const sel = 'canvas.labelkit-canvas';
  const marker = () => {
    const c = document.querySelector(sel); if (!c) return 0;
    const m = [...c.classList].find(x => x.startsWith('labelkit-render-'));
    return m ? parseInt(m.slice(16)) : 0;
  };
  const hash = () => {
    const c = document.querySelector(sel); if (!c) return 0;
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let h = 0;
    for (let i = 0; i < d.length; i += 29) h = (Math.imul(h, 31) + d[i]) | 0;
    return h;
  };
  const frame = () => new Promise(r => requestAnimationFrame(() => r(performance.now())));
  const lk = window.__lk = {marker, hash, frame, st: null};
  const stamp = e => { if (lk.st && lk.st.input === null) lk.st.input = e.timeStamp; };
  document.addEventListener('keydown', stamp, true);
  document.addEventListener('mouseup', stamp, true);
  new MutationObserver(() => {
    if (lk.st && lk.st.markerT === null && marker() > lk.st.m0) lk.st.markerT = performance.now();
  }).observe(document.body, {subtree: true, attributes: true, attributeFilter: ['class']});
  lk.settle = async (quiet = 3, timeout = 5000) => {  // pixels unchanged for `quiet` frames
    const t0 = performance.now(); let h = hash(), same = 0;
    while (same < quiet && performance.now() - t0 < timeout) {
      await frame(); const h2 = hash(); same = h2 === h ? same + 1 : 0; h = h2;
    }
  };
  lk.arm = () => { lk.st = {m0: marker(), h0: hash(), input: null, markerT: null, paintT: null,
                            epoch: performance.timeOrigin}; };
  lk.wait = async (timeout = 30000, still = 500) => {
    const st = lk.st, t0 = performance.now();
    while (performance.now() - t0 < timeout) {
      const t = await frame();
      if (st.markerT === null && marker() > st.m0) st.markerT = t;
      if (st.markerT !== null) {
        if (hash() !== st.h0) { st.paintT = t; st.changed = true; break; }
        if (t - st.markerT > still) { st.paintT = null; st.changed = false; break; }
      }
    }
    // settled: the last frame whose pixels changed, until 3 frames in a row are still
    // (an event may paint in two messages: vector commands first, then a PNG patch)
    st.settleT = st.paintT;
    if (st.paintT !== null) {
      let h = hash(), same = 0;
      const t1 = performance.now();
      while (same < 3 && performance.now() - t1 < 2000) {
        const t = await frame(); const h2 = hash();
        if (h2 !== h) { st.settleT = t; same = 0; h = h2; } else { same += 1; }
      }
    }
    st.m1 = marker();
    return st;
  };
}
"""

#: the notebook the key timings run in: 1080p images, sample-model proposals, a
#: Labeler whose canvas events are timed in the kernel (appended to HANDLER_LOG)
BENCH_CELLS = [
    """import json, os, time
from pathlib import Path
import labelkit as lk
t0 = time.perf_counter()
ds = lk.load_images(sorted(Path(os.environ["LK_BENCH_IMAGES"]).glob("*.jpg")), name=os.environ["LK_BENCH_DATASET"])
lk.propose(ds, lk.models.sample(), field="predictions", confidence=0.3)
print(f"dataset ready in {time.perf_counter() - t0:.1f} s")""",
    """labeler = lk.Labeler(ds, proposals="predictions", labels="ground_truth")
LOG = open(os.environ["LK_BENCH_HANDLER_LOG"], "a")
_start = {}
def _t0(widget, content, buffers):
    _start["t"] = time.time()
    _start.pop("marker", None)
def _marker_sent(change):  # observers run after ipywidgets sent the new class
    _start.setdefault("marker", time.time())
def _t1(widget, content, buffers):
    if content.get("event") in ("key_down", "mouse_up"):
        LOG.write(json.dumps({"event": content.get("event"), "key": content.get("key"),
                              "start": _start.get("t", 0) * 1e3, "end": time.time() * 1e3,
                              "marker_sent": _start.get("marker", 0) * 1e3,
                              "timings": labeler.timings}) + "\\n")
        LOG.flush()
labeler.canvas._msg_callbacks.callbacks.insert(0, _t0)  # before ipycanvas's own handler
labeler.canvas.on_msg(_t1)                               # after it
labeler.canvas.observe(_marker_sent, "_dom_classes")
if os.environ.get("LK_BENCH_TRACE_DIR"):  # --trace: log when the IOPub thread sends each message
    import sys
    sys.path.insert(0, os.environ["LK_BENCH_DIR"])
    import _trace
    _trace.install_kernel(os.path.join(os.environ["LK_BENCH_TRACE_DIR"], "kernel.jsonl"))
labeler""",
]




def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def make_1080p_images(out: Path, n: int) -> list[Path]:
    """``n`` 1920x1080 JPEGs: the sample data's validation images, upscaled."""
    import cv2

    src = sorted((ROOT / "sample_data" / "known-val" / "images").glob("*.jpg"))
    src += sorted((ROOT / "sample_data" / "known-train" / "images").glob("*.jpg"))
    if not src:
        raise SystemExit("no sample images in sample_data/known-val/images")
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        img = cv2.imread(str(src[i % len(src)]))
        big = cv2.resize(img, (1920, 1080), interpolation=cv2.INTER_CUBIC)
        p = out / f"{i:04d}.jpg"
        cv2.imwrite(str(p), big, [cv2.IMWRITE_JPEG_QUALITY, 90])
        paths.append(p)
    return paths


# ------------------------------------------------------------------ part 1: Run All
CELL_WATCH_JS = r"""
() => {
  const w = window.__lkCells = {t0: performance.now(), done: {}, widget: null};
  const tick = () => {
    const cells = [...document.querySelectorAll('.jp-Notebook .jp-Cell.jp-CodeCell')];
    cells.forEach((c, i) => {
      const p = c.querySelector('.jp-InputPrompt');
      if (p && /\[\d+\]/.test(p.textContent) && !(i in w.done)) w.done[i] = performance.now() - w.t0;
    });
    const cv = document.querySelector('canvas.labelkit-canvas');
    if (w.widget === null && cv && [...cv.classList].some(x => x.startsWith('labelkit-render-'))
        && cv.getBoundingClientRect().width > 0) {
      requestAnimationFrame(() => { if (w.widget === null) w.widget = performance.now() - w.t0; });
    }
    w.ncells = cells.length;
  };
  w.timer = setInterval(tick, 25);
}
"""


def run_quickstart(browser, server: dict, label: str, notebook: str) -> dict:
    """Open the quickstart, Run All, and time it: open -> kernel idle, Run All -> first
    painted widget, Run All -> last cell done, and each code cell's completion."""
    from _jupyter import dismiss, open_notebook, run_all

    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    try:
        t_open = time.monotonic()
        open_notebook(page, server, notebook)
        t_idle = time.monotonic()
        page.evaluate(CELL_WATCH_JS)
        run_all(page)
        page.wait_for_function("() => window.__lkCells.widget !== null", timeout=600_000, polling=100)
        page.get_by_text("labels.json").first.wait_for(timeout=600_000)
        dismiss(page)
        w = page.evaluate("() => { clearInterval(window.__lkCells.timer); return window.__lkCells; }")
        sources = page.evaluate(
            """() => [...document.querySelectorAll('.jp-Notebook .jp-Cell.jp-CodeCell')].map(
                c => (c.querySelector('.jp-InputArea-editor') || c).innerText.trim().split('\\n')[0].slice(0, 60))"""
        )
        done = {int(k): v for k, v in w["done"].items()}
        cells, prev = [], 0.0
        for i in sorted(done):
            cells.append({"cell": i + 1, "first_line": sources[i] if i < len(sources) else "",
                          "done_s": done[i] / 1e3, "took_s": (done[i] - prev) / 1e3})
            prev = done[i]
        return {
            "run": label,
            "open_to_kernel_idle_s": t_idle - t_open,
            "run_all_to_first_widget_s": w["widget"] / 1e3,
            "run_all_to_last_cell_s": max(done.values()) / 1e3 if done else float("nan"),
            "cells": cells,
            "load": _load(),
        }
    finally:
        page.close()


# --------------------------------------------------------------- part 2: key timings
def _one(page, action, timeout_ms: float = 30_000) -> dict:
    page.evaluate("() => window.__lk.settle()")
    page.evaluate("() => window.__lk.arm()")
    action()
    st = page.evaluate("(t) => window.__lk.wait(t)", timeout_ms)
    if st["input"] is None or st["markerT"] is None:
        raise RuntimeError(f"no render after the input: {st}")
    end = st["paintT"] if st["paintT"] is not None else st["markerT"]
    settled = st.get("settleT") if st.get("settleT") is not None else end
    return {
        "total_ms": end - st["input"],
        "settled_ms": settled - st["input"],
        "marker_ms": st["markerT"] - st["input"],
        "pixels_changed": bool(st.get("changed")),
        "m0": st["m0"],
        "input_epoch_ms": st["epoch"] + st["input"],
        "marker_epoch_ms": st["epoch"] + st["markerT"],
    }


def _press(page, key):
    return lambda: page.keyboard.press(key)


def _unmeasured(page, key: str, timeout_ms: float = 30_000) -> None:
    """Press ``key`` and wait for its render (at most ``timeout_ms``: some keys, e.g.
    Escape with nothing selected, draw nothing)."""
    page.evaluate("() => window.__lk.arm()")
    page.keyboard.press(key)
    page.evaluate("(t) => window.__lk.wait(t)", timeout_ms)


def key_timings(browser, server: dict, tries: int, trace_dir: Path | None = None,
                chrome_trace: Path | None = None) -> dict[str, list[dict]]:
    from _jupyter import dismiss, open_notebook, run_all

    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    if trace_dir is not None:
        import _trace

        page.add_init_script(_trace.PAGE_INIT_JS)
    out: dict[str, list[dict]] = {k: [] for k in ("Tab", "a", "brush drag", "+", "Enter", "ArrowRight")}
    try:
        open_notebook(page, server, "bench_1080p.ipynb")
        run_all(page)
        canvas = page.locator("canvas.labelkit-canvas")
        canvas.wait_for(state="visible", timeout=900_000)
        page.wait_for_function(
            "() => [...document.querySelector('canvas.labelkit-canvas').classList]"
            ".some(x => x.startsWith('labelkit-render-'))", timeout=120_000,
        )
        dismiss(page)
        page.evaluate(PAGE_JS)
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        # focus the canvas: a click on an empty spot with the select tool (a render too)
        page.evaluate("() => window.__lk.arm()")
        page.mouse.click(box["x"] + 3, box["y"] + 3)
        page.evaluate("(t) => window.__lk.wait(t, 300)", 5_000)
        print("  Tab / a ...", flush=True)
        if chrome_trace is not None:
            browser.start_tracing(page=page, path=str(chrome_trace), categories=[
                "devtools.timeline", "disabled-by-default-devtools.timeline", "v8.execute", "blink.user_timing",
            ])
        for _ in range(tries):
            _unmeasured(page, "Escape", 2_000)
            out["Tab"].append(_one(page, _press(page, "Tab")))
            out["a"].append(_one(page, _press(page, "a")))
            _unmeasured(page, "Control+z")
        if chrome_trace is not None:
            browser.stop_tracing()
        print("  zoom ...", flush=True)
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        for _ in range(tries):
            out["+"].append(_one(page, lambda: page.keyboard.type("+")))
            _unmeasured(page, "0")
        print("  brush drags ...", flush=True)
        _unmeasured(page, "Escape", 2_000)
        page.keyboard.press("b")
        for i in range(tries):
            x0 = box["x"] + box["width"] * 0.1
            y = box["y"] + box["height"] * (0.1 + 0.8 * i / max(tries - 1, 1))
            page.mouse.move(x0, y)
            page.mouse.down()
            for j in range(1, 20):  # 20 points: the press and 19 moves
                page.mouse.move(x0 + j * 12, y + (j % 3) * 2)
            out["brush drag"].append(_one(page, page.mouse.up))
        page.keyboard.press("v")
        print("  Enter ...", flush=True)
        for _ in range(tries):
            out["Enter"].append(_one(page, _press(page, "Enter")))
        print("  ArrowRight ...", flush=True)
        for _ in range(tries):
            out["ArrowRight"].append(_one(page, _press(page, "ArrowRight")))
        page.screenshot(path=str(ROOT / "bench" / "out" / "browser-1080p.png"))
        if trace_dir is not None:
            recs = page.evaluate("() => window.__lkTrace || []")
            with open(trace_dir / "page.jsonl", "w") as f:
                for r in recs:
                    f.write(json.dumps(r) + "\n")
    finally:
        page.close()
    return out


#: the hops of a render marker's message, in order (``--trace``)
HOPS = ("marker_sent", "kernel_send", "server", "server_end", "page_ws", "dom")


def _attach_trace(results: dict[str, list[dict]], trace_dir: Path) -> None:
    """Give each try the times of its first render marker's message at every hop
    (kernel main thread -> IOPub thread's ZMQ send -> the server's receive and hand-off
    to the websocket -> the page's websocket -> the DOM), and the messages that
    reached the page from the input to that marker."""
    import _trace

    kernel = _trace.read(trace_dir / "kernel.jsonl")
    server = _trace.read(trace_dir / "server.jsonl")
    page = _trace.read(trace_dir / "page.jsonl")
    server_by_id = {r["msg_id"]: r for r in server}
    page_by_id: dict = {}
    for r in page:
        page_by_id.setdefault(r["msg_id"], r)
    for tries in results.values():
        for t in tries:
            want = t["m0"] + 1
            k = next((r for r in kernel if r["render"] == want), None)
            if k is None or "python_ms" not in t:
                continue
            srv, pg = server_by_id.get(k["msg_id"]), page_by_id.get(k["msg_id"])
            if srv is None or pg is None:
                continue
            sent = t["input_epoch_ms"] + t["to_kernel_ms"] + t["python_ms"]
            stamps = (sent, k["t"], srv["t"], srv["t_end"], pg["t"], t["marker_epoch_ms"])
            t["hops_ms"] = {f"{a}->{b}": y - x for a, b, x, y in zip(HOPS, HOPS[1:], stamps, stamps[1:], strict=False)}
            before = [r for r in page if t["input_epoch_ms"] <= r["t"] <= pg["t"]]
            t["page_msgs_to_marker"] = len(before)
            t["page_bytes_to_marker"] = sum(r["bytes"] for r in before)
            # every message of the try, ms from the input: kernel send, server, page
            t0, t1 = t["input_epoch_ms"], t["input_epoch_ms"] + t["settled_ms"] + 50

            def rel(rec, t0=t0):
                return None if rec is None else rec["t"] - t0

            t["timeline"] = [
                {"render": r["render"], "bytes": r["bytes"], "type": r["type"], "method": r["method"],
                 "kernel": r["t"] - t0, "server": rel(server_by_id.get(r["msg_id"])),
                 "page": rel(page_by_id.get(r["msg_id"]))}
                for r in kernel if t0 <= r["t"] <= t1
            ]

def _attach_handler_log(results: dict[str, list[dict]], log: Path) -> None:
    """Match each try with the kernel's handler record (the first one that started
    after the input and ended before the marker) and split its time."""
    recs = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    for key, tries in results.items():
        for t in tries:
            want = "mouse_up" if key == "brush drag" else "key_down"
            hit = next((r for r in recs if r["event"] == want and t["input_epoch_ms"] - 5 <= r["start"]
                        and r["end"] <= t["marker_epoch_ms"] + 5), None)
            if hit is None:
                continue
            # the handler's part until the render marker is sent (the list, buttons and
            # status line follow it); where no marker was sent, the whole handler
            sent = hit.get("marker_sent") or 0
            sent = sent if hit["start"] <= sent <= hit["end"] else hit["end"]
            t["to_kernel_ms"] = hit["start"] - t["input_epoch_ms"]
            t["python_ms"] = sent - hit["start"]
            t["handler_ms"] = hit["end"] - hit["start"]
            t["back_to_page_ms"] = t["marker_epoch_ms"] - sent
            t["decode_paint_ms"] = t["total_ms"] - t["marker_ms"]
            t["timings"] = hit["timings"]


def _summary(name: str, tries: list[dict]) -> dict:
    def stat(field):
        xs = [t[field] for t in tries if field in t]
        return (statistics.median(xs), percentile(xs, 0.95)) if xs else (float("nan"), float("nan"))

    row = {"action": name, "n": len(tries)}
    for f in ("total_ms", "settled_ms", "to_kernel_ms", "python_ms", "handler_ms", "back_to_page_ms",
              "decode_paint_ms"):
        row[f] = stat(f)
    row["pixels_changed"] = sum(t["pixels_changed"] for t in tries)
    traced = [t for t in tries if "hops_ms" in t]
    if traced:
        row["hops_ms"] = {h: statistics.median(t["hops_ms"][h] for t in traced) for h in traced[0]["hops_ms"]}
        row["hops_p95_ms"] = {h: percentile([t["hops_ms"][h] for t in traced], 0.95) for h in traced[0]["hops_ms"]}
        row["page_msgs_to_marker"] = statistics.median(t["page_msgs_to_marker"] for t in traced)
        row["page_bytes_to_marker"] = statistics.median(t["page_bytes_to_marker"] for t in traced)
        row["traced"] = len(traced)
        # tries whose marker waited > 20 ms between the server's hand-off and the page
        # (a delayed-ACK stall under Nagle is 30-40 ms; the page's own work is a few ms)
        row["ws_stalls"] = sum(t["hops_ms"]["server_end->page_ws"] > 20 for t in traced)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tries", type=int, default=20, help="tries per action (default 20)")
    ap.add_argument("--skip-quickstart", action="store_true", help="only the key timings")
    ap.add_argument("--skip-keys", action="store_true", help="only Run All to the first widget")
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "out" / "browser.json")
    ap.add_argument("--trace", action="store_true",
                    help="also time each hop of the render marker's message (kernel IOPub thread, "
                         "Jupyter server, page websocket; bench/_trace.py)")
    ap.add_argument("--baseline", action="store_true",
                    help="first time the keys in a server without labelkit_jupyter's TCP_NODELAY "
                         "(LABELKIT_JUPYTER_NODELAY=0: Jupyter Server's default), then as installed")
    ap.add_argument("--chrome-trace", type=Path, default=None,
                    help="write a Chromium performance trace of the Tab / a tries to this file")
    args = ap.parse_args(argv)

    from labelkit.testing import use_private_database

    use_private_database(prefix="labelkit-bench-browser-db-")
    from _jupyter import jupyter_lab, launch_chromium, missing, shutdown_kernels, write_notebook
    from playwright.sync_api import sync_playwright

    why = missing()
    if why:
        raise SystemExit(f"cannot run: {why}")
    (ROOT / "bench" / "out").mkdir(exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="labelkit-bench-browser-"))
    root = tmp / "root"
    (root / "notebooks").mkdir(parents=True)
    images = tmp / "images-1080p"
    make_1080p_images(images, 2 * args.tries + 3)
    write_notebook(root / "bench_1080p.ipynb", BENCH_CELLS)
    quick_name = f"lk-bench-quickstart-{os.getpid()}"
    env = {
        "LABELKIT_SAMPLE_DATA": str(ROOT / "sample_data"),
        "LABELKIT_QUICKSTART_DATASET": quick_name,
        "LABELKIT_NO_APP": "1",
        "LABELKIT_EXPORT_DIR": str(tmp / "exports"),
        "LABELKIT_ANNOTATOR": "bench",
        "LK_BENCH_IMAGES": str(images),
    }
    # the servers the key timings run in: as installed (labelkit_jupyter sets TCP_NODELAY
    # on kernel websockets) and, with --baseline, first Jupyter Server's default (Nagle on)
    variants = [("nagle", {"LABELKIT_JUPYTER_NODELAY": "0"})] if args.baseline else []
    variants.append(("nodelay", {}))
    report: dict = {"load_at_start": _load(), "cpus": os.cpu_count(), "tries": args.tries, "key_runs": []}
    print(f"load average (1/5/15 min) at start: {report['load_at_start']} on {os.cpu_count()} CPUs", flush=True)
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            try:
                for i, (label, extra) in enumerate(variants):
                    work = tmp / label
                    work.mkdir()
                    run_env = {**env, **extra, "LK_BENCH_DATASET": f"lk-bench-1080p-{os.getpid()}-{label}",
                               "LK_BENCH_HANDLER_LOG": str(work / "handler.jsonl")}
                    trace_dir = None
                    if args.trace:
                        trace_dir = work / "trace"
                        (trace_dir / "config").mkdir(parents=True)
                        (trace_dir / "config" / "jupyter_server_config.py").write_text(
                            f"import sys\nsys.path.insert(0, {str(ROOT / 'bench')!r})\nimport _trace\n"
                            f"_trace.install_server({str(trace_dir / 'server.jsonl')!r})\n"
                        )
                        run_env.update(LK_BENCH_TRACE_DIR=str(trace_dir), LK_BENCH_DIR=str(ROOT / "bench"),
                                       JUPYTER_CONFIG_PATH=str(trace_dir / "config"))
                    last = i == len(variants) - 1
                    with jupyter_lab(work, root, env=run_env) as server:
                        report.setdefault("server_start_s", server["started_s"])
                        if last and not args.skip_quickstart:
                            import fiftyone as fo

                            runs = []
                            for run in ("cold", "warm"):
                                # a fresh copy each run: no saved outputs or prompts of the last one
                                nb = root / "notebooks" / f"01_quickstart-{run}.ipynb"
                                shutil.copy(ROOT / "notebooks" / "01_quickstart.ipynb", nb)
                                print(f"quickstart, {run} ...", flush=True)
                                runs.append(run_quickstart(browser, server, run, f"notebooks/{nb.name}"))
                                shutdown_kernels(server)
                                if fo.dataset_exists(quick_name):
                                    fo.delete_dataset(quick_name)
                            report["quickstart"] = runs
                        if not args.skip_keys:
                            print(f"key timings at 1080p, {args.tries} tries each ({label}) ...", flush=True)
                            results = key_timings(browser, server, args.tries, trace_dir,
                                                  args.chrome_trace if last else None)
                            shutdown_kernels(server)
                    if not args.skip_keys:
                        _attach_handler_log(results, work / "handler.jsonl")
                        if trace_dir is not None:
                            _attach_trace(results, trace_dir)
                        loaded = "labelkit_jupyter: kernel websockets use TCP_NODELAY" in server["log"].read_text()
                        report["key_runs"].append({
                            "server": label, "tcp_nodelay": loaded, "keys": results,
                            "key_summary": [_summary(k, v) for k, v in results.items()],
                        })
                        if label == "nodelay" and not loaded:
                            print("WARNING: labelkit_jupyter did not load in the server: Nagle is on "
                                  "(jupyter server extension list)", flush=True)
            finally:
                browser.close()
        report["load_at_end"] = _load()
        if report["key_runs"]:
            report["key_summary"] = report["key_runs"][-1]["key_summary"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    args.json.write_text(json.dumps(report, indent=1, default=str))
    _print(report)
    return 0


def _print(report: dict) -> None:
    print(f"\nload average: start {report['load_at_start']}, end {report.get('load_at_end')}; "
          f"JupyterLab answered after {report.get('server_start_s', float('nan')):.1f} s")
    for run in report.get("quickstart", []):
        print(f"\nquickstart {run['run']}: open -> kernel idle {run['open_to_kernel_idle_s']:.1f} s, "
              f"Run All -> first widget {run['run_all_to_first_widget_s']:.1f} s, "
              f"-> last cell {run['run_all_to_last_cell_s']:.1f} s (load {run['load']})")
        for c in run["cells"]:
            print(f"  cell {c['cell']:>2} {c['took_s']:6.1f} s  {c['first_line']}")
    for kr in report.get("key_runs", []):
        what = "TCP_NODELAY (labelkit_jupyter)" if kr["tcp_nodelay"] else "Nagle on (Jupyter Server's default)"
        print(f"\nkey press -> pixels at 1080p, ms (median / p95), server: {what}:")
        print(f"  {'action':<12} {'n':>3} {'total':>13} {'settled':>13} {'to kernel':>13} {'python':>13} "
              f"{'handler':>13} {'back to page':>13} {'decode+paint':>13} changed")
        for r in kr["key_summary"]:
            cols = " ".join(f"{r[f][0]:5.0f} / {r[f][1]:5.0f}" for f in
                            ("total_ms", "settled_ms", "to_kernel_ms", "python_ms", "handler_ms",
                             "back_to_page_ms", "decode_paint_ms"))
            print(f"  {r['action']:<12} {r['n']:>3} {cols} {r['pixels_changed']:>3}")
        traced = [r for r in kr["key_summary"] if r.get("hops_ms")]
        if traced:
            print("  the render marker's message, hop by hop, ms (median / p95; --trace):")
            hops = list(traced[0]["hops_ms"])
            print(f"  {'action':<12} {'n':>3} " + " ".join(f"{h:>22}" for h in hops)
                  + "  msgs (bytes) to marker in page")
            for r in traced:
                cols = " ".join(f"{r['hops_ms'][h]:10.1f} / {r['hops_p95_ms'][h]:9.1f}" for h in hops)
                print(f"  {r['action']:<12} {r['traced']:>3} {cols}  {r['page_msgs_to_marker']:.0f} "
                      f"({r['page_bytes_to_marker'] / 1024:.1f} KiB)")
    runs = {kr["tcp_nodelay"]: kr for kr in report.get("key_runs", [])}
    if len(runs) == 2:
        base, new = ({r["action"]: r for r in runs[v]["key_summary"]} for v in (False, True))
        print("\nbaseline (Nagle on) -> labelkit_jupyter (TCP_NODELAY): median and p95 total, median settled"
              + (", tries with a > 20 ms wait between server and page" if "ws_stalls" in next(iter(new.values()))
                 else "") + ":")
        for action, r in new.items():
            b = base[action]
            line = (f"  {action:<12} {b['total_ms'][0]:4.0f} -> {r['total_ms'][0]:4.0f} ms "
                    f"({b['total_ms'][0] / r['total_ms'][0]:.2f}x), p95 {b['total_ms'][1]:4.0f} -> "
                    f"{r['total_ms'][1]:4.0f} ms ({b['total_ms'][1] / r['total_ms'][1]:.2f}x), settled "
                    f"{b['settled_ms'][0]:4.0f} -> {r['settled_ms'][0]:4.0f} ms")
            if "ws_stalls" in r and "ws_stalls" in b:
                line += f", stalls {b['ws_stalls']}/{b['traced']} -> {r['ws_stalls']}/{r['traced']}"
            print(line)


if __name__ == "__main__":
    sys.exit(main())
