"""labelkit: label images in Jupyter with a pre-trained model doing the first draft.

Quick start::

    import labelkit as lk
    ds = lk.load_images("sample_data/known-val/images", name="quickstart")
    lk.propose(ds, lk.models.sample(), field="predictions")
    labeler = lk.Labeler(ds, proposals="predictions", labels="ground_truth")
    labeler  # the widget

Heavy modules (torch, fiftyone, ipywidgets) are imported on first use, so
``import labelkit`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

# public name -> "module:attribute" (attribute None = the module itself)
_LAZY = {
    "load_images": "labelkit.io.images:load_images",
    "export_labels": "labelkit.io.export:export_labels",
    "read_image": "labelkit.media.image:read_image",
    "masks": "labelkit.geometry.masks:",
    "errors": "labelkit.errors:",
    "ReviewStore": "labelkit.store.image:ReviewStore",
    "models": "labelkit.models:",
    "ReviewSession": "labelkit.review.session:ReviewSession",
    "Labeler": "labelkit.widgets.labeler:Labeler",
    "VideoReviewSession": "labelkit.review.video:VideoReviewSession",
    "VideoLabeler": "labelkit.widgets.video:VideoLabeler",
    "interpolate": "labelkit.video.interpolate:interpolate",
    "video": "labelkit.video:",
    "testing": "labelkit.testing:",
    "progress": "labelkit.store.progress:progress",
    "agreement": "labelkit.audit.agreement:agreement",
}

# audit / finetune / propose share their names with their modules, so they are
# bound eagerly (the modules import torch/fiftyone only inside functions, so this
# stays fast): a lazy binding would be shadowed by the module object as soon as
# anything runs `import labelkit.audit`, and `lk.audit(ds)` would then fail.
# _register_fo_backend() makes `dataset.annotate(key, backend="labelkit", ...)`
# work once labelkit is imported (it sets FiftyOne's annotation-config variables,
# or its live config; it does not import fiftyone).
from .audit import audit  # noqa: E402
from .fiftyone_backend import register as _register_fo_backend  # noqa: E402
from .finetune import finetune  # noqa: E402
from .propose import propose  # noqa: E402

_register_fo_backend()

# FiftyOne warns on every connection to MongoDB 6.0 ("oldest supported version");
# for the embedded 6.0 database labelkit ships with, switch that check off through
# FiftyOne's `database_validation` setting -- never when the user set it, never for
# a FIFTYONE_DATABASE_URI server labelkit did not start (see labelkit.cli._database).
from .cli._database import quiet_version_banner as _quiet_version_banner  # noqa: E402

try:
    _quiet_version_banner()
except Exception:  # noqa: BLE001 - a cosmetic setting must never break `import labelkit`
    pass

__all__ = ["__version__", "audit", "finetune", "propose", *_LAZY]

if TYPE_CHECKING:  # pragma: no cover
    from . import errors, models  # noqa: F401
    from .geometry import masks  # noqa: F401
    from .io.export import export_labels  # noqa: F401
    from .io.images import load_images  # noqa: F401
    from .media.image import read_image  # noqa: F401
    from .store.image import ReviewStore  # noqa: F401


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'labelkit' has no attribute '{name}'")
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    value = getattr(module, attr) if attr else module
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))
