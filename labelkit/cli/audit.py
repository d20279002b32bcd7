"""``labelkit audit``: print an audit report's table, optionally save its HTML page.
"""

from __future__ import annotations

from ..audit.report import audit


def run_cli(args) -> int:
    """``labelkit audit DATASET [--proposals F] [--labels F] [--iou X] [--html PATH]``:
    print the report's table (and write the standalone HTML page with ``--html``)."""
    from ..store.dataset import open_dataset

    ds = open_dataset(args.dataset)
    report = audit(
        ds,
        proposals=getattr(args, "proposals", "predictions") or "predictions",
        labels=getattr(args, "labels", "ground_truth") or "ground_truth",
        iou=getattr(args, "iou", 0.5) or 0.5,
        mode=getattr(args, "mode", "auto") or "auto",
    )
    print(report.to_text())
    html_path = getattr(args, "html", None)
    if html_path:
        report.save(html_path)
        print(f"wrote {html_path}")
    return 0
