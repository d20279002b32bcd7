"""Mistakes with ``lk.interpolate(..., method="sam2")`` and the SAM 2 video model.

Each fails before anything is read, loaded or written: on the context's image
dataset (the video checks come before the model is loaded), or on model folders
the case writes into its scratch folder.
"""

from __future__ import annotations

from labelkit.errors import LabelkitError, ModelError, SchemaError, WeightsNotAvailableError

from . import Case, Context


def _interpolate(ctx: Context, **kwargs) -> None:
    import labelkit as lk

    lk.interpolate(ctx.ds, field="frames.labels", **kwargs)


def _image_sam2_folder(ctx: Context) -> None:
    from tiny_hf import tiny_sam2

    from labelkit import video as lkv

    model, processor = tiny_sam2()
    folder = ctx.tmp / "sam2-image-model"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    lkv.sam2_video(folder, device="cpu", cache=False)


def _missing_folder(ctx: Context) -> None:
    from labelkit import video as lkv

    lkv.sam2_video(ctx.tmp / "no-such-sam2-model", cache=False)


CASES = [
    Case(
        id="interpolate-sam2-on-images",
        what="lk.interpolate(method='sam2') on an image dataset (checked before the model loads)",
        run=lambda ctx: _interpolate(ctx, method="sam2"),
        error=SchemaError,
        names=("video dataset", "image"),
    ),
    Case(
        id="interpolate-unknown-method",
        what="lk.interpolate(method='sam3'): a method labelkit does not have",
        run=lambda ctx: _interpolate(ctx, method="sam3"),
        error=LabelkitError,
        names=("'sam3'", "'sam2'"),
    ),
    Case(
        id="interpolate-model-without-sam2",
        what="lk.interpolate(model=...) without method='sam2' (the model would be ignored)",
        run=lambda ctx: _interpolate(ctx, method="sdf", model="facebook/sam2.1-hiera-tiny"),
        error=LabelkitError,
        names=("model=", "method='sam2'", "'sdf'"),
    ),
    Case(
        id="interpolate-sam2-model-wrong-type",
        what="lk.interpolate(method='sam2', model=42): not an id, folder or loaded model",
        run=lambda ctx: _interpolate(ctx, method="sam2", model=42),
        error=ModelError,
        names=("model=", "int"),
    ),
    Case(
        id="sam2-video-model-folder-missing",
        what="lk.video.sam2_video('/no/such/folder')",
        run=_missing_folder,
        error=WeightsNotAvailableError,
        names=("no-such-sam2-model", "does not exist"),
    ),
    Case(
        id="sam2-video-model-is-an-image-model",
        what="lk.video.sam2_video(folder) on an image-only SAM 2 checkpoint (no memory modules)",
        run=_image_sam2_folder,
        error=ModelError,
        names=("'sam2' model", "sam2_video"),
    ),
]
