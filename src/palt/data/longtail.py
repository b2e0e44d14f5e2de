"""Long-tailed subsets by the Distribution-Balanced-loss Pareto sampler (COCO-MLT, VOC-MLT, PLT-*).

Protocol of Wu et al., *Distribution-Balanced Loss for Multi-Label Classification in Long-Tailed
Datasets*, ECCV 2020 (``tools/create_longtail_dataset.py``), reused with other parameters by
Zhang et al., *Learning in Imperfect Environment* (COMIC), ICCV 2023:

1. rank the classes by the column sums of the conditional co-occurrence matrix,
   ``s_j = Σ_i P(j | i)`` with ``P(j | i) = O_ij / O_ii``, most co-occurring first;
2. reference counts ``r_k = int(pdf_b(x_k) · (max − min) / b + min)`` at ``C`` points ``x_k``
   equally spaced between the Pareto(b) quantiles at 0 and 0.99;
3. walk the ranked classes once; for the class at rank ``k`` add randomly chosen unselected images
   containing it (or remove selected ones) until its count, raised meanwhile by co-occurrence,
   equals ``r_k``.

The published id lists depend on Python's ``random`` stream *and* on CPython's set iteration order
(see ``docs/benchmarks/voc-mlt.md``), so the greedy loop keeps Python ``set`` objects of row indices
exactly as the original did and samples from ``tuple(set)``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

from palt.labels import LabelSet


def pareto_reference_counts(n_classes: int, b: float, max_count: int, min_count: int) -> np.ndarray:
    """Target positives per rank: ``int(pdf_b(x_k) · (max − min) / b + min)``.

    ``pdf_b(x) = b · x^(−b−1)`` (x ≥ 1) is the density of ``scipy.stats.pareto(b)`` and
    ``x_k`` are ``n_classes`` points of ``linspace(ppf(0), ppf(0.99))`` with
    ``ppf(q) = (1 − q)^(−1/b)``, evaluated with the same floating-point operations as scipy
    (checked against it in the tests) without importing ``scipy.stats``. The result runs from
    ``max_count`` (rank 0, since ``pdf(1) = b``) down towards ``min_count``.
    """
    if n_classes < 1:
        raise ValueError(f"n_classes must be ≥ 1, got {n_classes}")
    if b <= 0:
        raise ValueError(f"Pareto shape b must be > 0, got {b}")
    if not 0 <= min_count <= max_count:
        raise ValueError(f"need 0 ≤ min_count ≤ max_count, got {min_count} and {max_count}")
    b = float(b)
    x = np.linspace(pow(1.0 - 0.0, -1.0 / b), pow(1.0 - 0.99, -1.0 / b), n_classes)
    pdf = b * x ** (-b - 1)
    return (pdf * (max_count - min_count) / b + min_count).astype(np.int64)


def rank_classes(labels: LabelSet) -> np.ndarray:
    """Class indices by descending ``Σ_i P(j | i)`` (numpy ``argsort`` of the negated scores).

    Classes without positives contribute no row to the sum (their row of ``P`` is 0).
    """
    scores = labels.conditional_cooccurrence().sum(axis=0)
    return np.argsort(-scores)


def select_longtail(
    labels: LabelSet,
    reference: Sequence[int] | np.ndarray,
    rng: random.Random,
    *,
    cap_to_available: bool = False,
    ranking: Sequence[int] | np.ndarray | None = None,
) -> list[int]:
    """Greedy DB-loss selection; returns row indices in the order of the selected set.

    ``reference[k]`` is the target count of the class at rank ``k`` (``ranking`` defaults to
    :func:`rank_classes`). ``rng`` is a :class:`random.Random` seeded by the caller (the original
    uses ``random.seed(0)`` once and lets the COCO selection continue the VOC stream).
    ``cap_to_available`` limits additions to the images left (the COCO variant); without it a
    class whose target exceeds its images is an error, as in the VOC variant.
    """
    order = rank_classes(labels) if ranking is None else np.asarray(ranking)
    n_classes = labels.n_classes
    if len(reference) != n_classes:
        raise ValueError(f"{len(reference)} reference counts for {n_classes} classes")
    pi, px, _, _ = labels.csr_arrays()
    # rows of every class, ascending (a stable sort of the CSR entries by class)
    by_class = np.repeat(np.arange(labels.n_samples), np.diff(pi))[np.argsort(px, kind="stable")]
    class_ptr = np.concatenate([[0], np.cumsum(np.bincount(px, minlength=n_classes))])
    row_classes: dict[int, list[int]] = {}

    def classes_of(row: int) -> list[int]:
        if row not in row_classes:
            row_classes[row] = px[pi[row] : pi[row + 1]].tolist()
        return row_classes[row]

    selected: set[int] = set()
    selected_of: list[set[int]] = [set() for _ in range(n_classes)]
    counts = [0.0] * n_classes
    for rank, c in enumerate(order.tolist()):
        need = int(reference[rank] - counts[c])
        if need > 0:
            pool = set(by_class[class_ptr[c] : class_ptr[c + 1]].tolist()) - selected_of[c]
            if cap_to_available:
                need = min(need, len(pool))
            elif need > len(pool):
                raise ValueError(
                    f"class {labels.classes[c]!r} (rank {rank}) needs {need} more images but only "
                    f"{len(pool)} are left; lower max_count or enable cap_to_available (palt build --cap)"
                )
            for row in rng.sample(tuple(pool), need):
                selected.add(row)
                for j in classes_of(row):
                    selected_of[j].add(row)
                    counts[j] += 1
        elif need < 0:
            for row in rng.sample(tuple(selected_of[c]), -need):
                selected.remove(row)
                for j in classes_of(row):
                    selected_of[j].remove(row)
                    counts[j] -= 1
    return list(selected)
