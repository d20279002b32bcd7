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
