"""Errors raised by labelkit.

Every error names the bad value (a file, a field, a class) and says what to do.
They subclass the built-in exception a caller would expect (``ValueError``,
``FileNotFoundError``, ...) so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class LabelkitError(Exception):
    """Base class of every labelkit error."""


class ImageReadError(LabelkitError, ValueError):
    """An image file could not be decoded; the message names the file and why.

    Attributes:
        path: the file that failed.
        reason: a short, human-readable reason (``"file is empty (0 bytes)"``).
    """

    def __init__(self, path: str, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"image '{path}': {reason}")


class SchemaError(LabelkitError, ValueError):
    """A FiftyOne field is missing or holds the wrong label type."""


class ModelError(LabelkitError, RuntimeError):
    """A proposer could not be built or loaded (weights missing, bad checkpoint...)."""


class WeightsNotAvailableError(ModelError, FileNotFoundError):
    """Pre-trained weights are not cached and cannot be downloaded."""


class DatabaseError(LabelkitError, RuntimeError):
    """The FiftyOne database could not be started or reached."""


class ReviewError(LabelkitError, ValueError):
    """A review action was asked for something that does not exist (bad index, class...)."""


class ProposalError(ModelError, ValueError):
    """A proposer returned output that breaks the proposer contract (NaN or
    out-of-image boxes, scores outside [0, 1], unknown classes, masks that do not
    fit their box). Nothing of the batch is written.

    Attributes:
        model: a short description of the proposer.
        reason: what is wrong, naming the value.
    """


class ImportFormatError(SchemaError):
    """A file to import (COCO JSON, video annotations) is malformed; the message
    names the file, the entry and what to fix. Nothing is imported."""


class UnsafePathError(LabelkitError, ValueError):
    """A path would leave the folder it must stay in (``../``, an absolute path or
    a symlink pointing outside): export folders, checkpoints, journals and COCO
    ``file_name`` entries."""


class MissingImageError(ImageReadError, FileNotFoundError):
    """An image that was imported is no longer readable at review time; the
    decision is refused so nothing is recorded for an image nobody saw."""


class NotAllowedError(ReviewError):
    """The review action is switched off for this review (an annotation run's
    ``allow_additions`` / ``allow_deletions`` / ``allow_label_edits`` /
    ``allow_spatial_edits`` = False)."""


class OutputPathError(LabelkitError, ValueError):
    """An output path the user named cannot be written as asked (an export folder
    that exists as a file, a checkpoint whose folder is missing or that names a
    folder, an export folder that is or holds the dataset's media). Checked before
    anything is written."""


class PromptError(LabelkitError, ValueError):
    """A segmenter prompt (box, clicks, prior mask) or its image is malformed; the
    message names the value and the expected form."""


class BackendOptionError(LabelkitError, ValueError):
    """An option of ``ds.annotate(..., backend="labelkit")`` is unknown or has a value
    the labelkit backend cannot honour; the message names the option and lists the
    supported values. The annotation run is not created."""


class ClaimLostError(ReviewError):
    """A team review's claim on a sample is gone: it expired and another annotator
    claimed (or already reviewed) the sample. The write is refused (it is
    conditional on the claim), so the other person's work is never overwritten;
    the message names the sample, the other annotator and what to do."""


class NothingToClaimError(ReviewError):
    """A team review found no sample to claim: every sample is reviewed or held by
    another annotator's live claim; the message gives the counts and when claims
    of absent annotators expire."""


class EngineError(LabelkitError, ValueError):
    """An execution-engine option of ``lk.propose`` (``engine``, ``num_workers``,
    ``num_gpus_per_worker``, ``address``) is unknown or cannot be honoured (no
    Ray cluster at the address, GPUs asked for on a cluster without any); the
    message names the option and what to pass. Checked before anything is written."""
