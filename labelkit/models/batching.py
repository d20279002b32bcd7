"""GPU batching: a batch size chosen for the free GPU memory, and halving on out-of-memory.

On a CUDA device a proposer can pick its batch size itself
(``lk.propose(..., batch_size="auto")``, the default for torchvision proposers
built on CUDA without an explicit ``batch_size``):

1. :func:`probe_image_bytes` runs **one** forward pass on one image and measures
   the GPU memory it needed (``torch.cuda.max_memory_allocated`` around it, minus
   what was allocated before: weights, cached tensors);
2. :func:`batch_size_for_memory` turns the free memory and that per-image
   estimate into a batch size, keeping a safety margin free and capping it;
3. :func:`forward_in_chunks` runs batches in chunks of at most that size and,
   when a chunk still raises ``torch.cuda.OutOfMemoryError`` (an image with many
   more detections than the probe's, another process taking memory), halves the
   size and retries the chunk, down to one image.

The arithmetic (2) and the retry logic (3) need no GPU and are unit-tested
without one; only :func:`probe_image_bytes` touches CUDA. On CPU nothing here is
used: the proposer's own ``batch_size`` applies, as before.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence

from ..errors import EngineError, ModelError

logger = logging.getLogger("labelkit")

#: ``batch_size`` value that asks for a batch size chosen from the GPU memory.
AUTO = "auto"

#: Share of the free GPU memory left unused by an automatic batch size (memory
#: fragmentation, images larger or busier than the probe's, other processes).
DEFAULT_MARGIN = 0.25

#: Largest automatic batch size: past this, bigger batches do not make detectors faster.
DEFAULT_CAP = 32


def batch_size_for_memory(
    free_bytes: float,
    per_image_bytes: float,
    margin: float = DEFAULT_MARGIN,
    cap: int = DEFAULT_CAP,
) -> int:
    """The largest batch size that fits: ``floor(free_bytes * (1 - margin) / per_image_bytes)``,
    clamped to ``[1, cap]``.

    Args:
        free_bytes: GPU memory available to the batch (free on the device plus what
            torch's allocator has reserved but not in use).
        per_image_bytes: memory one image needs in a forward pass (measured by
            :func:`probe_image_bytes`); 0 (nothing measurable) gives ``cap``.
        margin: share of ``free_bytes`` kept free, in ``[0, 1)``.
        cap: the largest batch size returned (>= 1).

    Returns:
        a batch size in ``[1, cap]``; 1 even when one image does not seem to fit
        (the forward pass then reports the out-of-memory error itself).

    Raises:
        EngineError: a negative or non-finite byte count, a margin outside
            ``[0, 1)`` or a cap below 1.

    Example:
        >>> batch_size_for_memory(80e9, 2.5e9)          # 80 GB free, 2.5 GB per image
        24
        >>> batch_size_for_memory(80e9, 0.5e9)          # capped
        32
        >>> batch_size_for_memory(1e9, 4e9)             # never below 1
        1
    """
    for name, value in (("free_bytes", free_bytes), ("per_image_bytes", per_image_bytes)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise EngineError(f"{name}={value!r} must be a finite number of bytes >= 0")
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 <= margin < 1:
        raise EngineError(f"margin={margin!r} must be a share of the free memory in [0, 1), e.g. 0.25")
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
        raise EngineError(f"cap={cap!r} must be an int >= 1 (the largest batch size to choose)")
    if per_image_bytes == 0:
        return cap
    return int(max(1, min(cap, math.floor(free_bytes * (1.0 - margin) / per_image_bytes))))


def probe_image_bytes(forward: Callable[[], object], device) -> tuple[int, int]:
    """Run ``forward()`` once on a CUDA device and measure its memory.

    Args:
        forward: runs one forward pass on one image (its output is dropped).
        device: the CUDA device (``torch.device`` or a string such as ``"cuda:0"``).

    Returns:
        ``(per_image_bytes, available_bytes)``: the peak memory allocated during the
        pass minus what was allocated before it, and the memory a batch can use
        afterwards (``torch.cuda.mem_get_info`` free bytes plus memory torch
        reserved but does not use).
    """
    import torch

    dev = torch.device(device)
    torch.cuda.synchronize(dev)
    torch.cuda.reset_peak_memory_stats(dev)
    before = torch.cuda.memory_allocated(dev)
    out = forward()
    torch.cuda.synchronize(dev)
    peak = torch.cuda.max_memory_allocated(dev)
    del out
    free, _total = torch.cuda.mem_get_info(dev)
    spare = torch.cuda.memory_reserved(dev) - torch.cuda.memory_allocated(dev)
    return max(0, int(peak - before)), int(free + max(0, spare))


def _is_oom(exc: BaseException) -> bool:
    import sys

    torch = sys.modules.get("torch")
    oom = getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None) if torch is not None else None
    return oom is not None and isinstance(exc, oom)


def forward_in_chunks(
    forward: Callable[[list], list],
    items: Sequence,
    max_batch: int,
    on_oom: Callable[[], None] | None = None,
    describe: Callable[[object], str] | None = None,
) -> tuple[list, int]:
    """``forward`` over ``items`` in chunks of at most ``max_batch``, halving on out-of-memory.

    When ``forward(chunk)`` raises ``torch.cuda.OutOfMemoryError``, ``on_oom()``
    runs (``torch.cuda.empty_cache``), the chunk size is halved and the same
    items are tried again; the smaller size is kept for the rest (and returned,
    so the caller keeps it for later batches). Results come back in the order of
    ``items``.

    Args:
        forward: one result per item of the list it is given.
        items: the batch.
        max_batch: the largest chunk to try first (>= 1).
        on_oom: called after each out-of-memory error, before the retry.
        describe: item -> words for the error when a single item does not fit
            (e.g. ``"an image of 4000x3000"``).

    Returns:
        ``(results, max_batch)``: one result per item, and the chunk size that worked.

    Raises:
        ModelError: a single item does not fit in the GPU memory (from the
            out-of-memory error); any other error of ``forward`` as it is.
    """
    if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
        raise EngineError(f"max_batch={max_batch!r} must be an int >= 1")
    items = list(items)
    out: list = []
    start = 0
    while start < len(items):
        chunk = items[start:start + max_batch]
        failed = None
        try:
            res = list(forward(chunk))
        except Exception as exc:  # noqa: BLE001 - only out-of-memory is handled
            if not _is_oom(exc):
                raise
            failed = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
        if failed is None:
            if len(res) != len(chunk):
                raise ModelError(f"the forward pass returned {len(res)} results for {len(chunk)} images")
            out.extend(res)
            start += len(chunk)
            continue
        # outside the except block: the traceback (and the tensors it holds) is gone
        if on_oom is not None:
            on_oom()
        if len(chunk) == 1:
            what = describe(chunk[0]) if describe is not None else "one image"
            raise ModelError(
                f"{what} does not fit in the GPU memory even alone ({failed}); free GPU memory "
                "(other processes), make the model resize images smaller (min_size / max_size), "
                "or run on device='cpu'"
            )
        max_batch = max(1, len(chunk) // 2)
        logger.warning("labelkit: GPU out of memory on a batch of %d image(s); retrying with %d (%s)",
                       len(chunk), max_batch, failed)
    return out, max_batch
