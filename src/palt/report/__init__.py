"""Comparisons and reports: methods × seeds on a benchmark → table, CSV/JSON, HTML with plots.

The last room of the house: it reads engine results (run directories), the engine never
imports it. Entry point: :func:`palt.report.compare.compare` (``palt compare``).
"""

from palt.report.compare import CompareResult, compare, resolve_benchmark
from palt.report.plan import DEFAULT_METHODS, DEFAULT_SEEDS

__all__ = ["DEFAULT_METHODS", "DEFAULT_SEEDS", "CompareResult", "compare", "resolve_benchmark"]
