"""Pre-labeling on Ray: decode in Ray tasks, infer in an actor pool of model replicas.

``lk.propose(ds, model, engine="ray", num_workers=N)`` runs this engine; the
driver part of :func:`labelkit.propose.image.propose` (which samples to do, the
bulk writes through :class:`labelkit.store.image.ReviewStore`, the progress bar
and the summary) is the same as for the local engine. Only the middle differs:

1. the driver reads the sample ids and file paths from FiftyOne and makes a Ray
   Data dataset of ``{"id", "path"}`` rows (:func:`iter_results`);
2. ``map_batches(_decode_batch)``: Ray **tasks** decode the images with
   :func:`labelkit.media.image.read_image` (a failure becomes the row's
   ``error``, the job goes on);
3. ``map_batches(_ProposerActor, concurrency=num_workers)``: an **actor pool** of
   model replicas, each building the proposer once (from its spec, see
   :mod:`labelkit.models.spec`, or unpickled) and running
   :func:`labelkit.propose._engine.run_batch` on each batch (the same contract
   checks as the local path), then encoding each image's ``fo.Detections`` as the
   final MongoDB documents (:func:`encode_documents`: the store's own encoding,
   :func:`labelkit.store.image.proposal_documents`, masks compressed there);
4. the driver unpickles the documents (:func:`decode_documents`) and writes them
   as they are, in bulk by sample id
   (:meth:`labelkit.store.image.ReviewStore.write_proposal_documents`): it builds
   no label objects. Nothing on a worker touches the database.

GPUs: a replica with ``num_gpus_per_worker > 0`` runs its proposer on CUDA when
the worker has it (a proposer built for the CPU is moved there). With
``batch_size="auto"`` (the default when the replicas get GPUs) each replica picks
its own batch size from its GPU's free memory with one probe pass on its first
image (:meth:`labelkit.models.TorchvisionProposer.choose_batch_size`) and runs the
blocks it receives in chunks of that size; out-of-memory halves it.

Ray is started locally (``ray.init()``, no dashboard) unless it is running
already, ``address=`` is given or ``RAY_ADDRESS`` is set (``"auto"``, a GCS
``host:port`` or ``"ray://host:10001"``). Workers need labelkit (with torch and
fiftyone) installed and must be able to read the image paths stored in FiftyOne
and the proposer's checkpoint path (a shared file system).
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import EngineError, ModelError

logger = logging.getLogger("labelkit")

#: The engines ``lk.propose`` knows.
ENGINES = ("local", "ray")

_EMPTY = np.zeros((1, 1, 3), np.uint8)  # stands in for an image that could not be read

#: Images per Ray batch sent to a GPU replica choosing its own batch size
#: (``batch_size="auto"``); the replica splits it into chunks that fit its memory.
AUTO_BLOCK = 32
_WORKER_PHASES = ("decode", "model", "postprocess", "encode")


# ------------------------------------------------------------------ options


def check_options(engine: str, num_workers, num_gpus_per_worker, num_cpus_per_worker, address) -> None:
    """Refuse bad engine options before anything is read or written.

    Raises:
        EngineError: an unknown engine, a worker count below 1, a negative GPU or
            CPU share, Ray-only options with ``engine="local"``, or Ray not installed.
    """
    if engine not in ENGINES:
        raise EngineError(f"engine={engine!r} is not an engine labelkit knows; use one of {list(ENGINES)}")
    if engine == "local":
        extra = [n for n, v in (("num_gpus_per_worker", num_gpus_per_worker),
                                ("num_cpus_per_worker", num_cpus_per_worker), ("address", address))
                 if v is not None]
        if extra:
            raise EngineError(f"{', '.join(extra)} only apply to engine='ray' (got engine='local')")
        return
    if num_workers is not None and (isinstance(num_workers, bool) or not isinstance(num_workers, int)
                                    or num_workers < 1):
        raise EngineError(
            f"num_workers={num_workers!r}: engine='ray' needs at least one model replica "
            "(an int >= 1), or None for one per GPU (one per two CPUs without GPUs)"
        )
    for name, value in (("num_gpus_per_worker", num_gpus_per_worker), ("num_cpus_per_worker", num_cpus_per_worker)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value) or value < 0):
            raise EngineError(f"{name}={value!r} must be a number >= 0 (a fraction shares a device), or None")
    if num_cpus_per_worker == 0:
        raise EngineError("num_cpus_per_worker=0: each model replica needs a CPU share > 0")
    if address is not None and not isinstance(address, str):
        raise EngineError(f"address={address!r} must be a string like 'ray://head:10001' or 'auto'")
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise EngineError(f"engine='ray' needs Ray Data: pip install 'ray[data]' ({exc})") from None


# ------------------------------------------------------------------ proposer payload


def proposer_payload(model) -> tuple:
    """What the actors get to build the proposer: ``("spec", spec, digest)`` when it
    can be rebuilt from a spec (a tuple given as ``model``, or ``model.spec()``),
    else ``("pickle", bytes)`` (cloudpickle), checked here so an unpicklable
    proposer fails on the driver, before any work.

    Raises:
        ModelError: the proposer has no spec and cannot be pickled.
    """
    from ..models.spec import _split, spec_of, weights_digest

    if isinstance(model, (tuple, list, str)):
        _split(model)  # malformed specs fail here
        return ("spec", tuple(model) if not isinstance(model, str) else (model,), None)
    spec = spec_of(model)
    if spec is not None:
        return ("spec", spec, weights_digest(model))
    import ray.cloudpickle as cloudpickle

    try:
        return ("pickle", cloudpickle.dumps(model))
    except Exception as exc:  # noqa: BLE001 - pickling fails in many ways
        raise ModelError(
            f"the proposer {type(model).__name__} cannot be sent to Ray workers: it cannot be "
            f"pickled ({type(exc).__name__}: {str(exc)[:200]}). Pass a spec instead, e.g. "
            "('sample',), ('maskrcnn', weights) or ('checkpoint', path) (see labelkit.models.spec), "
            "or make the proposer picklable"
        ) from None


def build_proposer(payload: tuple, use_gpu: bool = False):
    """Build the proposer of a :func:`proposer_payload` (on a worker).

    Raises:
        ModelError: the rebuilt weights differ from the driver's (another file at the
            same path on this machine) or the model cannot be built.
    """
    from ..models.spec import from_spec, weights_digest

    if payload[0] == "spec":
        _kind, spec, digest = payload
        model = from_spec(spec)
        if digest is not None:
            got = weights_digest(model)
            if got != digest:
                raise ModelError(
                    f"the proposer rebuilt on this worker from {spec!r} has other weights than the "
                    f"driver's (digest {got} != {digest}); the checkpoint file differs on this "
                    "machine: make the path point at the same file everywhere"
                )
    else:
        import ray.cloudpickle as cloudpickle

        model = cloudpickle.loads(payload[1])
    if use_gpu and getattr(model, "device", "cpu") == "cpu" and hasattr(model, "module"):
        import torch

        if torch.cuda.is_available():  # a CPU proposer sent to a GPU worker: use the GPU
            model.module.to("cuda")
            model.device = "cuda"
    return model


# ------------------------------------------------------------------ documents


def encode_documents(dets) -> bytes:
    """One image's ``fo.Detections`` -> bytes for the trip back to the driver: the
    pickled list of its final MongoDB documents
    (:func:`labelkit.store.image.proposal_documents`, the encoding the store writes:
    ids, boxes, scores, masks as compressed ``.npy`` bytes, attributes)."""
    from ..store.image import proposal_documents

    return pickle.dumps(proposal_documents(dets), protocol=pickle.HIGHEST_PROTOCOL)


def decode_documents(data: bytes) -> list[dict]:
    """The documents :func:`encode_documents` encoded, ready for
    :meth:`labelkit.store.image.ReviewStore.write_proposal_documents`."""
    return pickle.loads(data)  # noqa: S301 - our own workers' output


# ------------------------------------------------------------------ Ray stages


def _decode_batch(batch: dict) -> dict:
    """Ray task: read the images of a batch of ``{"id", "path"}`` rows."""
    from ._engine import _read

    images, errors, seconds = [], [], []
    for path in batch["path"]:
        img, reason, dt = _read(str(path))
        images.append(_EMPTY if img is None else img)
        errors.append(reason or "")
        seconds.append(dt)
    return {
        "id": batch["id"], "path": batch["path"], "image": _objects(images),
        "error": np.asarray(errors, dtype=object), "t_decode": np.asarray(seconds, np.float64),
    }


class _ProposerActor:
    """Ray actor: one model replica. Built once, then called per batch.

    An exception (building the proposer, running it, a ``ProposalError`` from the
    contract checks) is not raised into Ray, which would keep only its text: it
    is returned pickled in the batch's ``exc`` column and re-raised by the driver
    as itself."""

    def __init__(self, payload: tuple, min_confidence: float, num_threads: int, use_gpu: bool,
                 auto_batch: bool = False):
        import sys

        self.model, self.error = None, None
        self.min_confidence = float(min_confidence)
        self.auto_batch = bool(auto_batch)  # choose the batch size on the first batch (GPU)
        self.chunked = bool(auto_batch)  # blocks of AUTO_BLOCK images: run in chunks of model.batch_size
        try:
            self.model = build_proposer(payload, use_gpu=use_gpu)
        except Exception as exc:  # noqa: BLE001 - reported with the first batch
            self.error = exc
        if "torch" in sys.modules:  # a torch proposer: as many threads as CPUs reserved
            import torch

            torch.set_num_threads(max(1, int(num_threads)))

    def __call__(self, batch: dict) -> dict:
        from ._engine import run_batch

        errors = [str(e) for e in batch["error"]]
        n_rows = len(errors)
        ok = [i for i, e in enumerate(errors) if not e]
        timings = {"model": 0.0, "postprocess": 0.0}
        docs = [b""] * n_rows
        exc_col = [b""] * n_rows
        t_encode = 0.0
        try:
            if self.error is not None:
                raise self.error
            images = [np.asarray(batch["image"][i]) for i in ok]
            if images and self.auto_batch:
                self.auto_batch = False
                choose = getattr(self.model, "choose_batch_size", None)
                if callable(choose) and str(getattr(self.model, "device", "cpu")).startswith("cuda"):
                    choose(images[0], self.min_confidence)
            step = int(getattr(self.model, "batch_size", 0) or 0) if self.chunked else 0
            step = step if step >= 1 else max(1, len(images))
            results = []
            for j in range(0, len(images), step):
                results += run_batch(self.model, images[j:j + step], self.min_confidence, timings)
            t0 = time.perf_counter()
            for i, dets in zip(ok, results, strict=True):
                docs[i] = encode_documents(dets)
            t_encode = time.perf_counter() - t0
        except Exception as exc:  # noqa: BLE001 - sent to the driver, raised there
            exc_col[0] = _pickle_exception(exc)
            docs = [b""] * n_rows
        n = max(len(ok), 1)
        share = np.asarray([0.0 if e else 1.0 / n for e in errors])
        return {
            "id": batch["id"], "path": batch["path"], "error": batch["error"], "doc": _objects(docs),
            "exc": _objects(exc_col), "t_decode": batch["t_decode"], "t_model": share * timings["model"],
            "t_postprocess": share * timings["postprocess"], "t_encode": share * t_encode,
        }


def _objects(values: list) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


def _pickle_exception(exc: BaseException) -> bytes:
    """The exception, pickled with its remote traceback as a note; a ``ModelError``
    with the same text when it does not pickle."""
    import traceback

    import ray.cloudpickle as cloudpickle

    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        if hasattr(exc, "add_note"):
            exc.add_note(f"(raised on a Ray worker)\n{text}")
        return cloudpickle.dumps(exc)
    except Exception:  # noqa: BLE001
        return cloudpickle.dumps(ModelError(f"a Ray worker failed: {type(exc).__name__}: {exc}\n{text}"))


# ------------------------------------------------------------------ driver


@dataclass
class RayPlan:
    """How a Ray run is laid out (also reported in the summary).

    Attributes:
        num_workers: model replicas (actors).
        num_gpus_per_worker: GPUs each replica reserves (0 on CPU).
        num_cpus_per_worker: CPUs each replica reserves (its torch threads, at least 1).
        cluster: the cluster's resources when the run started (``CPU``, ``GPU``...).
        started_ray: whether this call started Ray (a local instance).
    """

    num_workers: int
    num_gpus_per_worker: float
    num_cpus_per_worker: float
    cluster: dict = field(default_factory=dict)
    started_ray: bool = False


def ensure_ray(address: str | None = None) -> bool:
    """Connect to Ray: the running instance, ``address``/``RAY_ADDRESS``, else a new
    local one (no dashboard). Returns whether a new local instance was started.

    Raises:
        EngineError: no Ray cluster answers at the address.
    """
    import ray

    if ray.is_initialized():
        return False
    target = address or os.environ.get("RAY_ADDRESS") or None
    try:
        if target:
            ray.init(address=target, logging_level=logging.WARNING, log_to_driver=True)
            return False
        ray.init(include_dashboard=False, logging_level=logging.WARNING)
        return True
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        raise EngineError(
            f"cannot connect to a Ray cluster at address={target!r} ({type(exc).__name__}: "
            f"{str(exc)[:200]}); start one (ray start --head) or pass address=None for a local Ray"
        ) from None


def plan(num_workers: int | None, num_gpus_per_worker: float | None, num_cpus_per_worker: float | None,
         address: str | None) -> RayPlan:
    """Start or join Ray and decide the actor pool (see :class:`RayPlan`).

    Defaults: one replica per GPU (each with one GPU) on a cluster with GPUs; else
    one per two CPUs. Each replica reserves one CPU, less when the cluster has
    fewer CPUs than replicas + decoding needs (a small local machine).

    Raises:
        EngineError: GPUs asked for on a cluster without (enough) GPUs.
    """
    import ray

    started = ensure_ray(address)
    res = {k: float(v) for k, v in ray.cluster_resources().items()}
    cpus, gpus = res.get("CPU", 1.0), res.get("GPU", 0.0)
    if num_workers is None:
        num_workers = int(gpus) if gpus >= 1 else max(1, int(cpus) // 2)
    if num_gpus_per_worker is None:
        num_gpus_per_worker = min(1.0, gpus / num_workers) if gpus > 0 else 0.0
    if num_gpus_per_worker > 0 and num_gpus_per_worker * num_workers > gpus + 1e-9:
        raise EngineError(
            f"num_gpus_per_worker={num_gpus_per_worker} x num_workers={num_workers} needs "
            f"{num_gpus_per_worker * num_workers:g} GPU(s), but the Ray cluster has {gpus:g}; "
            "pass num_gpus_per_worker=0 to run on CPUs, fewer workers, or a cluster with GPUs"
        )
    if num_cpus_per_worker is None:
        num_cpus_per_worker = min(1.0, max(0.05, (cpus - 0.5) / num_workers))
    return RayPlan(int(num_workers), float(num_gpus_per_worker), float(num_cpus_per_worker), res, started)


def _quiet_ray_data():
    """Ray Data's own progress bars and per-run log lines off (labelkit shows one bar)."""
    import ray.data

    ctx = ray.data.DataContext.get_current()
    log = logging.getLogger("ray.data")
    old_level = log.level
    log.setLevel(logging.ERROR)
    old = {}
    for name, value in (("enable_progress_bars", False), ("print_on_execution_start", False),
                        ("enable_operator_progress_bars", False)):
        if hasattr(ctx, name):
            old[name] = getattr(ctx, name)
            setattr(ctx, name, value)

    def restore() -> None:
        for k, v in old.items():
            setattr(ctx, k, v)
        log.setLevel(old_level)

    return restore


def _user_error(exc: BaseException) -> BaseException:
    """The user-facing exception inside a Ray error (a model that raised, a
    ``ProposalError``): the first cause that is not Ray's own wrapper."""
    seen = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        mod = type(cur).__module__ or ""
        if not mod.startswith("ray"):
            return cur
        cause = getattr(cur, "cause", None)
        if isinstance(cause, BaseException):
            cur = cause
            continue
        cur = cur.__cause__ or cur.__context__
    return exc


@dataclass
class Result:
    """One image's outcome from the workers: ``doc`` (:func:`encode_documents` bytes;
    :func:`decode_documents` turns them into the documents to write) or ``reason``
    (an unreadable image)."""

    sample_id: str
    path: str
    doc: bytes | None = None
    reason: str | None = None


def iter_results(
    todo: Sequence[tuple[str, str]],
    payload: tuple,
    layout: RayPlan,
    *,
    min_confidence: float,
    batch_size: int,
    worker_timings: dict[str, float],
    auto_batch: bool = False,
) -> Iterator[list[Result]]:
    """Run the Ray pipeline over ``(sample id, path)`` pairs; yield results as they come.

    Args:
        todo: the samples to propose for.
        payload: how the actors build the proposer (:func:`proposer_payload`).
        layout: from :func:`plan`.
        min_confidence: the confidence floor.
        batch_size: images per model call (with ``auto_batch``: per Ray batch).
        worker_timings: accumulates the workers' seconds per phase (decode, model,
            postprocess, encode), summed over workers.
        auto_batch: each replica chooses its batch size from its GPU's memory on its
            first batch and runs Ray batches in chunks of that size.

    Yields:
        lists of :class:`Result`, one list per finished batch (any order).

    Raises:
        the exception a worker raised (the proposer's own, or ``ProposalError``),
        unwrapped from Ray's error.
    """
    import ray.data

    if not todo:
        return
    restore = _quiet_ray_data()
    try:
        rows = [{"id": sid, "path": path} for sid, path in todo]
        n_blocks = max(1, min(math.ceil(len(rows) / batch_size), 64 * layout.num_workers))
        ds = ray.data.from_items(rows, override_num_blocks=n_blocks)
        ds = ds.map_batches(_decode_batch, batch_size=batch_size, batch_format="numpy", num_cpus=0.25)
        ds = ds.map_batches(
            _ProposerActor,
            fn_constructor_kwargs={
                "payload": payload, "min_confidence": min_confidence,
                "num_threads": max(1, round(layout.num_cpus_per_worker)),
                "use_gpu": layout.num_gpus_per_worker > 0, "auto_batch": auto_batch,
            },
            batch_size=batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=layout.num_workers),
            num_cpus=layout.num_cpus_per_worker,
            num_gpus=layout.num_gpus_per_worker or None,
        )
        it = iter(ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=2))
        while True:
            try:
                batch = next(it)
            except StopIteration:
                break
            except Exception as exc:  # noqa: BLE001 - Ray's own failure (a worker died...)
                err = _user_error(exc)
                if err is exc:
                    raise
                raise err from None
            failed = [e for e in batch["exc"] if e]
            if failed:
                import ray.cloudpickle as cloudpickle

                raise cloudpickle.loads(bytes(failed[0]))
            for phase in _WORKER_PHASES:
                worker_timings[phase] += float(np.sum(batch[f"t_{phase}"]))
            out = []
            for sid, path, error, doc in zip(batch["id"], batch["path"], batch["error"], batch["doc"],
                                             strict=True):
                if error:
                    out.append(Result(str(sid), str(path), reason=str(error)))
                else:
                    out.append(Result(str(sid), str(path), doc=bytes(doc)))
            yield out
    finally:
        restore()
