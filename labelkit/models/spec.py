"""Proposer specs: how to rebuild a proposer in another process (a Ray worker).

A *spec* is a small tuple naming where a proposer's weights come from, plus an
optional trailing dict of options::

    ("sample",)                                   # lk.models.sample()
    ("sample", {"min_confidence": 0.3})
    ("maskrcnn", "DEFAULT")                       # lk.models.maskrcnn(weights="DEFAULT")
    ("maskrcnn", "/data/coco.pth", {"classes": ["person"]})
    ("checkpoint", "/data/finetuned.pt")          # lk.models.load(path)

Options are keyword arguments of the builder (``device``, ``min_confidence``,
``mask_threshold``, ``classes``; ``kwargs`` for ``maskrcnn``'s architecture
arguments) plus ``batch_size``, set on the rebuilt proposer. Paths must be
readable where the spec is rebuilt (on a cluster: a shared file system).

:func:`spec_of` gives the spec of a proposer built by :func:`~labelkit.models.sample`,
:func:`~labelkit.models.maskrcnn` (weights from the torch cache or a file) or
:func:`~labelkit.models.load` -- as long as its weights were not changed in place
since (training steps, ``load_state_dict``...); then it is None and the proposer
must be sent whole (pickled). :func:`weights_digest` fingerprints the weights so
a worker can check that it rebuilt the same model as the driver.

Example:
    >>> from labelkit.models.spec import from_spec, spec_of
    >>> model = from_spec(("sample", {"device": "cpu"}))  # doctest: +SKIP
    >>> spec_of(model)  # doctest: +SKIP
    ('sample', {'device': 'cpu', 'min_confidence': 0.05, 'mask_threshold': 0.5, 'batch_size': 1})
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from ..errors import ModelError
from ._source import remember_source, torchvision_spec  # noqa: F401 - re-exported

#: The kinds of spec :func:`from_spec` knows.
SPEC_KINDS = ("sample", "maskrcnn", "checkpoint")

_OPTIONS = ("device", "classes", "min_confidence", "mask_threshold", "kwargs", "batch_size")


def spec_of(model) -> tuple | None:
    """The spec that rebuilds ``model`` elsewhere, or None when there is none.

    Uses ``model.spec()`` when the proposer defines it. For labelkit's torchvision
    proposers the spec carries the current ``classes``, ``min_confidence``,
    ``mask_threshold`` and ``batch_size``; it is None when the weights changed in
    place after loading (they are then not what the file holds).
    """
    fn = getattr(model, "spec", None)
    if callable(fn):
        return fn()
    return None


def _split(spec) -> tuple[str, list, dict]:
    if isinstance(spec, str):
        spec = (spec,)
    if not isinstance(spec, (tuple, list)) or not spec or not isinstance(spec[0], str):
        raise ModelError(
            f"a proposer spec is a tuple like ('sample',), ('maskrcnn', weights) or "
            f"('checkpoint', path), got {spec!r}"
        )
    kind, rest = spec[0], list(spec[1:])
    options: dict = {}
    if rest and isinstance(rest[-1], Mapping):
        options = dict(rest.pop())
    if kind not in SPEC_KINDS:
        raise ModelError(f"unknown proposer spec kind {kind!r} in {spec!r}; known kinds: {list(SPEC_KINDS)}")
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise ModelError(f"proposer spec {spec!r} has unknown options {unknown}; known: {list(_OPTIONS)}")
    want = 0 if kind == "sample" else 1
    if len(rest) != want:
        shape = "('sample', {options})" if kind == "sample" else f"('{kind}', path_or_weights, {{options}})"
        raise ModelError(f"proposer spec {spec!r} must look like {shape}")
    if options.get("kwargs") is not None and kind != "maskrcnn":
        raise ModelError(f"proposer spec {spec!r}: 'kwargs' (architecture arguments) only fit 'maskrcnn'")
    return kind, rest, options


def from_spec(spec) -> Any:
    """Build the proposer a spec names (see the module docstring for the forms).

    Raises:
        ModelError: the spec is malformed, or the model cannot be built (a missing
            checkpoint, weights not available offline...).
    """
    from .torchvision_models import load, maskrcnn, sample

    kind, rest, options = _split(spec)
    batch_size = options.pop("batch_size", None)
    kwargs = dict(options.pop("kwargs", None) or {})
    if kind == "sample":
        classes = options.pop("classes", None)
        if classes is None:
            model = sample(**options)
        else:  # sample() has no classes argument: load its checkpoint with them
            model = load(sample_checkpoint(), classes=classes, **options)
            remember_source(model, "sample", None, options.get("device", "auto"))
    elif kind == "maskrcnn":
        model = maskrcnn(weights=rest[0], **options, **kwargs)
    else:
        model = load(rest[0], **options)
    if batch_size is not None:
        model.batch_size = int(batch_size)
        if hasattr(model, "auto_batch"):  # an explicit batch size: not chosen from GPU memory
            model.auto_batch = False
    return model


def sample_checkpoint():
    """The bundled sample model's checkpoint file."""
    from ..io.sample import sample_data_dir

    return sample_data_dir() / "models" / "sample_maskrcnn.pt"


def weights_digest(model) -> str | None:
    """A fingerprint (BLAKE2b, 16 bytes hex) of a torch proposer's weights and buffers,
    in name order and on the host; None for proposers without a torch ``module``.
    Equal digests mean byte-identical weights, whatever the device."""
    module = getattr(model, "module", None)
    state = getattr(module, "state_dict", None)
    if not callable(state):
        return None
    import torch

    h = hashlib.blake2b(digest_size=16)
    for name, t in sorted(state().items()):
        h.update(name.encode())
        h.update(str(t.dtype).encode() + str(tuple(t.shape)).encode())
        h.update(t.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()
