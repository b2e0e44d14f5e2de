"""Evaluation that is right under unknown labels.

Per-class AP over annotated entries only (unknowns dropped per class), classes without an
annotated positive or negative excluded and reported, mAP / weighted / micro / group mAP, and
thresholded P/R/F1 with both CF1 definitions. Inputs are fp32 logits, dense or sparse.
"""

from palt.metrics._arrays import MetricInputError
from palt.metrics.accumulator import MultilabelAccumulator
from palt.metrics.evaluate import average_precision, evaluate
from palt.metrics.precision import CONVENTIONS
from palt.metrics.result import EvalResult
from palt.metrics.sparse_scores import SparseScores

__all__ = [
    "CONVENTIONS",
    "EvalResult",
    "MetricInputError",
    "MultilabelAccumulator",
    "SparseScores",
    "average_precision",
    "evaluate",
]
