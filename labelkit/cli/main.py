"""The ``labelkit`` command line: ``doctor``, ``demo``, ``import``, ``propose``,
``audit``, ``export``, ``app``, ``serve-db``.

Each subcommand is a thin wrapper over the Python API; user mistakes print one
clear line (``labelkit: error: ...``) and exit 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import LabelkitError


def _add_doctor(sub) -> None:
    p = sub.add_parser("doctor", help="check database, model weights, torch device; print what to fix")
    p.add_argument("--no-db", action="store_true", help="skip starting the database")
    p.set_defaults(func=_run_doctor)


def _run_doctor(args) -> int:
    from .doctor import run_doctor

    return run_doctor(check_db=not args.no_db)


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="open JupyterLab on the quickstart notebook (sample data, bundled model)")
    p.add_argument("--port", type=int, default=None, help="JupyterLab port (default: a free one from 8888)")
    p.add_argument("--no-browser", action="store_true", help="do not open a web browser")
    p.add_argument("--notebook", default="notebooks/01_quickstart.ipynb", help="notebook to open")
    p.set_defaults(func=_run_demo)


def _run_demo(args) -> int:
    from .demo import run_demo

    return run_demo(port=args.port, open_browser=not args.no_browser, notebook=args.notebook)


def _add_import(sub) -> None:
    p = sub.add_parser("import", help="import a folder / glob of images into a FiftyOne dataset")
    p.add_argument("source", nargs="+", help="folder, glob or image files")
    p.add_argument("--dataset", required=True, help="dataset name (created or extended)")
    p.add_argument("--overwrite", action="store_true", help="delete the dataset first")
    p.set_defaults(func=_run_import)


def _run_import(args) -> int:
    from ..io.images import load_images

    source = args.source[0] if len(args.source) == 1 else args.source
    _, summary = load_images(source, name=args.dataset, overwrite=args.overwrite, return_summary=True)
    print(summary)
    return 0


def _add_propose(sub) -> None:
    p = sub.add_parser("propose", help="pre-label a folder or dataset with a model")
    p.add_argument("source", help="a folder/glob of images, or an existing dataset name")
    p.add_argument("--model", default="sample", help="sample | maskrcnn | PATH to a checkpoint")
    p.add_argument("--dataset", default=None, help="dataset name (default: the folder name)")
    p.add_argument("--field", default="predictions", help="field for the proposals")
    p.add_argument("--min-confidence", type=float, default=0.3)
    p.add_argument("--batch-size", type=_batch_size, default=None,
                   help="images per model call: N or 'auto' (fit the GPU memory; default: the model's)")
    p.add_argument("--overwrite", action="store_true", help="replace unreviewed proposals")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: this process; ray: decode and infer on a Ray cluster, write from here")
    p.add_argument("--num-workers", type=_positive_int, default=None,
                   help="local: decoding threads; ray: model replicas (default: one per GPU, else per 2 CPUs)")
    p.add_argument("--num-gpus-per-worker", type=float, default=None,
                   help="ray: GPUs per replica (default: 1 when the cluster has GPUs, else 0)")
    p.add_argument("--address", default=None,
                   help="ray: the cluster, e.g. ray://head:10001 or auto (default: RAY_ADDRESS, else a local Ray)")
    p.set_defaults(func=_run_propose)


def _batch_size(text: str):
    """``--batch-size``: an int >= 1 or ``auto``."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of images or 'auto'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1 (or 'auto')")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1")
    return value


def _run_propose(args) -> int:
    from .propose import run_cli

    return run_cli(args)


def _add_audit(sub) -> None:
    p = sub.add_parser("audit", help="print how useful the proposals were (acceptance, IoU, misses)")
    p.add_argument("dataset", help="dataset name")
    p.add_argument("--proposals", default="predictions")
    p.add_argument("--labels", default="ground_truth")
    p.add_argument("--iou", type=float, default=0.5)
    p.add_argument("--html", default=None, help="also write a standalone HTML report here")
    p.set_defaults(func=_run_audit)


def _run_audit(args) -> int:
    from .audit import run_cli

    return run_cli(args)


def _add_export(sub) -> None:
    p = sub.add_parser("export", help="export reviewed labels (COCO, YOLO, VOC, CVAT, ...)")
    p.add_argument("dataset", help="dataset name")
    p.add_argument("out", help="export directory")
    p.add_argument("--format", default="coco", help="coco | yolo | voc | cvat | fiftyone")
    p.add_argument("--labels", default="ground_truth")
    p.add_argument("--all", action="store_true", help="include samples not reviewed yet")
    p.set_defaults(func=_run_export)


def _run_export(args) -> int:
    from ..io.export import export_labels

    out = export_labels(
        args.dataset, args.out, format=args.format, labels=args.labels, reviewed_only=not args.all
    )
    print(out)
    return 0


def _add_app(sub) -> None:
    p = sub.add_parser("app", help="open a dataset in the FiftyOne App")
    p.add_argument("dataset", help="dataset name")
    p.add_argument("--port", type=int, default=5151)
    p.add_argument("--address", default="127.0.0.1")
    p.set_defaults(func=_run_app)


def _run_app(args) -> int:
    import fiftyone as fo

    from ..store.dataset import open_dataset

    ds = open_dataset(args.dataset)
    session = fo.launch_app(ds, port=args.port, address=args.address, auto=False)
    print(f"FiftyOne App: {session.url}  (Ctrl+C to stop)")
    session.wait(-1)
    return 0


def _add_serve_db(sub) -> None:
    p = sub.add_parser("serve-db", help="run a MongoDB server for a team / workshop; prints the URI to hand out")
    p.add_argument("--data", default="labelkit-db", help="data folder (default ./labelkit-db; reused)")
    p.add_argument("--port", type=int, default=27017)
    p.add_argument("--lan", action="store_true", help="listen on all interfaces, hand out the LAN address")
    p.add_argument("--host", default=None, help="address to put in the connection string")
    p.add_argument("--user", default="labelkit", help="the annotators' user name")
    p.add_argument("--password", default=None, help="their password (default: kept from the last run, else random)")
    p.add_argument("--admin-password", default=None, help="admin password (default: kept, else random)")
    p.set_defaults(func=_run_serve_db)


def _run_serve_db(args) -> int:
    from .serve_db import run_serve_db

    return run_serve_db(data=args.data, port=args.port, lan=args.lan, host=args.host, user=args.user,
                        password=args.password, admin_password=args.admin_password)


def build_parser() -> argparse.ArgumentParser:
    from .._version import __version__

    parser = argparse.ArgumentParser(
        prog="labelkit", description="Label images in Jupyter with a model's first draft."
    )
    parser.add_argument("--version", action="version", version=f"labelkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (_add_doctor, _add_demo, _add_import, _add_propose, _add_audit, _add_export, _add_app,
                _add_serve_db):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``labelkit`` command."""
    os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except LabelkitError as exc:
        print(f"labelkit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("labelkit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
