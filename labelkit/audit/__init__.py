"""Audit: should I automate my labeling? Proposal-vs-final metrics, effort, a recommendation.

* :mod:`.report` - :func:`audit` and :class:`AuditReport` (metrics, confidence
  intervals, recommendation, threshold suggestion);
* :mod:`.compare` - several proposal fields side by side (:class:`AuditComparison`);
* :mod:`.agreement` - inter-annotator agreement of an overlap study
  (:func:`agreement`, :class:`AgreementReport`);
* :mod:`.render` - the report's terminal table, HTML page and plots.

May import: :mod:`labelkit.errors`, :mod:`labelkit.geometry`, :mod:`labelkit.store`,
:mod:`labelkit.io`.
"""

from __future__ import annotations

from .agreement import AgreementReport, agreement
from .compare import AuditComparison
from .report import (
    AuditReport,
    audit,
    suggest_threshold,
)

__all__ = [
    "AgreementReport",
    "AuditComparison",
    "agreement",
    "AuditReport",
    "audit",
    "suggest_threshold",
]
