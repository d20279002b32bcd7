"""How a ``TorchvisionProposer`` was built, for :mod:`labelkit.models.spec` (kept apart
so that ``torchvision_models`` can record it without importing ``spec``)."""

from __future__ import annotations

from typing import Any


def _state_versions(module) -> tuple:
    """(id, in-place version) of every parameter and buffer: changes when weights are
    trained, loaded or replaced after the proposer was built."""
    return tuple((id(t), t._version) for t in (*module.parameters(), *module.buffers()))


def remember_source(model, kind: str, arg: Any, device: str, **options: Any) -> None:
    """Record how ``model`` (a ``TorchvisionProposer``) was built, for :func:`labelkit.models.spec.spec_of`.

    Args:
        model: the proposer just built.
        kind: one of :data:`labelkit.models.spec.SPEC_KINDS`.
        arg: the weights / checkpoint path (None for ``"sample"``).
        device: the device argument as the caller gave it (``"auto"`` stays
            ``"auto"``, so a GPU worker rebuilds on its GPU).
        **options: other builder arguments to repeat (``kwargs`` of ``maskrcnn``).
    """
    try:
        versions = _state_versions(model.module)
    except Exception:  # noqa: BLE001 - not a torch module: no spec
        return
    model._source = (kind, arg, str(device), dict(options))
    model._source_versions = versions


def torchvision_spec(model) -> tuple | None:
    """:func:`labelkit.models.spec.spec_of` for a ``TorchvisionProposer`` (its ``spec()`` method)."""
    source = getattr(model, "_source", None)
    if source is None:
        return None
    try:
        if _state_versions(model.module) != model._source_versions:
            return None
    except Exception:  # noqa: BLE001
        return None
    kind, arg, device, extra = source
    options: dict[str, Any] = {"device": device}
    if list(model.classes) != list(model.all_classes):
        options["classes"] = list(model.classes)
    options.update(min_confidence=model.min_confidence, mask_threshold=model.mask_threshold)
    options.update(extra)
    options["batch_size"] = model.batch_size
    if kind == "sample":
        return ("sample", options)
    return (kind, str(arg), options)
