"""Datasets in and out: import images, videos and COCO into FiftyOne; export labels.

* :mod:`.images` - :func:`load_images` (folders, globs, file lists; bad files reported);
* :mod:`.coco` - COCO instance-mask import (:func:`load_coco`) and mask AP;
* :mod:`.video` - :func:`load_video`, labelkit's video annotation files, the sample video;
* :mod:`.sample` - :func:`sample_data_dir`, where the bundled sample data lives;
* :mod:`.export` - :func:`export_labels` and :func:`export_video_labels` through
  FiftyOne's exporters.

Importing creates datasets and samples; review results are written only by
:mod:`labelkit.store` (which these functions use for frame labels).

May import: :mod:`labelkit.errors`, ``_summary``, :mod:`labelkit.geometry`,
:mod:`labelkit.media`, :mod:`labelkit.store`.
"""

from __future__ import annotations

from .coco import (
    coco_mask_ap,
    load_coco,
    mask_ap_from_masks,
)
from .export import (
    export_labels,
    export_video_labels,
)
from .images import (
    ImportSummary,
    load_images,
)
from .sample import sample_data_dir
from .video import (
    SAMPLE_VIDEO_DIR,
    load_sample_video,
    load_video,
    read_video_annotations,
    sample_video_dir,
    write_video_annotations,
)

__all__ = [
    "sample_data_dir",
    "ImportSummary",
    "SAMPLE_VIDEO_DIR",
    "coco_mask_ap",
    "export_labels",
    "export_video_labels",
    "load_coco",
    "load_images",
    "load_sample_video",
    "load_video",
    "mask_ap_from_masks",
    "read_video_annotations",
    "sample_video_dir",
    "write_video_annotations",
]
