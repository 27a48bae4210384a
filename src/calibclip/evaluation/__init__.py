"""Evaluation: numpy-only metrics, report rendering, and the seed ``Evaluator``.

Names load on first use, so importing this package pulls in neither torch nor PIL.

Example:
    >>> from calibclip.evaluation import recall_at_k
    >>> recall_at_k([[0.2, 0.9]], [{1}], ks=(1,))["R@1"]
    100.0
"""
from __future__ import annotations

from calibclip.registry import lazy_attributes

_LAZY = {
    "Evaluator": "calibclip.evaluation.evaluator",
    "rank_gallery": "calibclip.evaluation.metrics",
    "person_retrieval_metrics": "calibclip.evaluation.metrics",
    "recall_at_k": "calibclip.evaluation.metrics",
    "graded_metrics": "calibclip.evaluation.metrics",
    "gains_from_grades": "calibclip.evaluation.metrics",
    "metrics_table": "calibclip.evaluation.report",
    "markdown_table": "calibclip.evaluation.report",
    "Table": "calibclip.evaluation.report",
    "Thumb": "calibclip.evaluation.report",
    "QueryResults": "calibclip.evaluation.report",
    "write_json": "calibclip.evaluation.report",
    "write_markdown_table": "calibclip.evaluation.report",
    "write_html_report": "calibclip.evaluation.report",
}

__getattr__ = lazy_attributes(__name__, _LAZY)

def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = list(_LAZY)
