"""``labelkit propose``: import or open a dataset, build the model named on the command line, propose.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import LabelkitError, ModelError, SchemaError
from ..propose.image import propose


def _looks_like_files(source: str) -> bool:
    return Path(source).expanduser().exists() or any(c in source for c in "*?[")


def _model_from_arg(spec: str, device: str):
    from .. import models

    if spec == "sample":
        return models.sample(device=device)
    if spec == "maskrcnn":
        return models.maskrcnn(device=device)
    path = Path(spec).expanduser()
    if not path.is_file():
        raise ModelError(f"--model {spec!r} is not 'sample', 'maskrcnn' or an existing checkpoint file")
    return models.maskrcnn(weights=path, device=device)


def run_cli(args) -> int:
    """``labelkit propose SOURCE --model ... --dataset ... --field ... [--engine ray ...]``.

    SOURCE is a folder or glob of images (imported with :func:`labelkit.io.load_images`
    into ``--dataset``, default the folder's name) or the name of an existing dataset.
    ``--engine``, ``--num-workers``, ``--num-gpus-per-worker``, ``--address`` and
    ``--batch-size auto`` go to :func:`labelkit.propose.image.propose` as they are
    (bad values and Ray-only options with ``--engine local`` are refused first, by
    :func:`labelkit.propose.ray_engine.check_options`, before anything is imported).
    Prints the import summary (if any) and the propose summary.
    """
    import fiftyone as fo

    from ..propose.ray_engine import check_options

    engine = getattr(args, "engine", "local") or "local"
    # bad engine options fail before any import or model load
    check_options(engine, getattr(args, "num_workers", None), getattr(args, "num_gpus_per_worker", None),
                  None, getattr(args, "address", None))
    source = str(args.source)
    if _looks_like_files(source):
        from ..io.images import load_images

        ds, imported = load_images(source, name=args.dataset, return_summary=True)
        print(imported)
    elif fo.dataset_exists(source):
        if args.dataset and args.dataset != source:
            raise SchemaError(
                f"SOURCE '{source}' is a dataset; --dataset {args.dataset!r} would be ignored, drop it"
            )
        ds = fo.load_dataset(source)
    else:
        raise LabelkitError(
            f"'{source}' is neither a folder/glob of images nor an existing dataset "
            f"(datasets: {', '.join(fo.list_datasets()) or 'none'})"
        )
    model = _model_from_arg(args.model, getattr(args, "device", "auto") or "auto")
    summary = propose(
        ds,
        model,
        field=args.field,
        min_confidence=args.min_confidence,
        batch_size=args.batch_size,
        overwrite=args.overwrite,
        progress=sys.stderr.isatty(),
        engine=engine,
        num_workers=getattr(args, "num_workers", None),
        num_gpus_per_worker=getattr(args, "num_gpus_per_worker", None),
        address=getattr(args, "address", None),
    )
    print(summary)
    return 0
