"""Resolve a dataset name or collection; tell image from video collections.
"""

from __future__ import annotations

from ..errors import LabelkitError, SchemaError


def open_dataset(name_or_collection):
    """A dataset by name (clear error listing what exists), or the collection itself."""
    import fiftyone as fo

    if not isinstance(name_or_collection, str):
        return name_or_collection
    if not fo.dataset_exists(name_or_collection):
        names = fo.list_datasets()
        hint = f"existing datasets: {', '.join(names)}" if names else "there are no datasets yet"
        raise LabelkitError(f"no FiftyOne dataset named '{name_or_collection}' ({hint})")
    return fo.load_dataset(name_or_collection)


def is_video_collection(samples) -> bool:
    """Whether ``samples`` (a collection or a dataset name) holds videos."""
    if isinstance(samples, str):
        import fiftyone as fo

        if not fo.dataset_exists(samples):
            return False
        samples = fo.load_dataset(samples)
    return getattr(samples, "media_type", None) == "video"


def dataset_for_import(name: str, media: str, overwrite: bool = False):
    """The persistent dataset ``name`` to import ``media`` ("image" or "video") into:
    created if missing, deleted first with ``overwrite=True``; an existing dataset of
    another media type is refused (a ``SchemaError`` naming it)."""
    import fiftyone as fo

    if overwrite and fo.dataset_exists(name):
        fo.delete_dataset(name)
    if not fo.dataset_exists(name):
        return fo.Dataset(name, persistent=True)
    ds = fo.load_dataset(name)
    if ds.media_type not in (None, media):
        raise SchemaError(
            f"dataset '{name}' holds {ds.media_type} samples, not {media}s; pick another name"
        )
    return ds
