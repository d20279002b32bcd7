"""The store: the only writer of review results to FiftyOne.

* :mod:`.schema` - the review schema (states, sources, label validation, ``make_label``);
* :mod:`.image` - :class:`ReviewStore` (image samples: one acknowledged write per
  decision, bulk ``set_values`` for proposals);
* :mod:`.video` - video frames: :class:`VideoFrameStore`, bulk frame writes,
  video metadata;
* :mod:`.dataset` - resolve a dataset name, tell image from video collections;
* :mod:`.claims` - team reviews: atomic per-sample claims with expiry, the
  claim condition of a team review's writes;
* :mod:`.overlap` - agreement studies: the overlap setting, sample marks, copy
  claims and the copy writes;
* :mod:`.progress` - ``lk.progress(ds)``: reviewed / claimed / free, per annotator (reads only);
* :mod:`.server` - a standalone ``mongod`` with auth (``labelkit serve-db``, tests), and
  :func:`~labelkit.store.server.probe` (``labelkit doctor``).

May import: :mod:`labelkit.errors`, :mod:`labelkit.geometry`, :mod:`labelkit.media`.
"""

from __future__ import annotations

from .dataset import (
    is_video_collection,
    open_dataset,
)
from .image import (
    ReviewStore,
    SampleRecord,
)
from .schema import (
    REVIEW_STATES,
    SAMPLE_STATES,
    SOURCES,
    default_annotator,
    make_label,
)
from .video import (
    FRAME_STATUS_FIELDS,
    INTERPOLATED_ATTR,
    KEYFRAME_ATTR,
    LABEL_ATTRS,
    REVIEW_ATTR,
    FrameRecord,
    TrackLabel,
    VideoFrameStore,
    VideoInfo,
    add_video_samples,
    declare_frame_detections,
    declare_frame_proposals,
    declare_frame_status,
    ensure_video_metadata,
    frame_field_name,
    set_video_metadata,
    write_frame_labels,
    write_frame_proposals,
    write_propose_errors,
)

__all__ = [
    "FRAME_STATUS_FIELDS",
    "FrameRecord",
    "INTERPOLATED_ATTR",
    "KEYFRAME_ATTR",
    "LABEL_ATTRS",
    "REVIEW_ATTR",
    "REVIEW_STATES",
    "ReviewStore",
    "SAMPLE_STATES",
    "SOURCES",
    "SampleRecord",
    "TrackLabel",
    "VideoFrameStore",
    "VideoInfo",
    "add_video_samples",
    "declare_frame_detections",
    "declare_frame_proposals",
    "declare_frame_status",
    "default_annotator",
    "ensure_video_metadata",
    "frame_field_name",
    "is_video_collection",
    "make_label",
    "open_dataset",
    "set_video_metadata",
    "write_frame_labels",
    "write_frame_proposals",
    "write_propose_errors",
]
