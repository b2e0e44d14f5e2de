"""Multi-label iterative stratification (Sechidis, Tsoumakas, Vlahavas, ECML PKDD 2011).

Given fractions ``r_1..r_K`` (summing to 1), every part ``k`` wants ``r_k·N`` samples and, for each
class ``i``, ``r_k·|D_i|`` of its positives. Repeatedly take the class with the fewest positives
not yet assigned (rarest first, lowest index on ties) and hand each of its unassigned samples to
the part with the largest remaining demand for that class; ties go to the part with the largest
remaining demand overall, then to a random one. Every placement lowers the demands of all the
sample's classes. Samples without positives fill the parts with the largest remaining demand.

One change to the published algorithm keeps rare classes visible everywhere: while a class has
positives left to place and a part has none of it yet, that part comes first (if the class has at
least as many positives as there are non-empty parts). Plain iterative stratification sends both positives
of a 2-positive class to the 80 % part of an 80/20 split.

Samples are visited in a random permutation (from ``seed``), so the record order does not bias
which sample lands where. Works on sparse labels: only the positive lists are read.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from palt.labels import LabelSet


def iterative_stratification(
    labels: LabelSet, fractions: Sequence[float], seed: int = 0
) -> np.ndarray:
    """Part index (0..K−1) of every sample, deterministic given ``seed``."""
    r = np.asarray(fractions, dtype=np.float64)
    if r.ndim != 1 or len(r) < 2 or np.any(r < 0) or not np.isclose(r.sum(), 1.0):
        raise ValueError(
            f"fractions must be ≥ 2 non-negative numbers summing to 1, got {fractions}"
        )
    rng = np.random.default_rng(seed)
    n, c, k = labels.n_samples, labels.n_classes, len(r)
    perm = rng.permutation(n)
    rank = np.empty(n, np.int64)
    rank[perm] = np.arange(n)
    pi, px, _, _ = labels.csr_arrays()
    sizes = labels.positive_counts()
    # members[i]: rows positive for class i, in permutation order
    members = [col[np.argsort(rank[col], kind="stable")] for col in _columns(labels)]
    class_demand = r[None, :] * sizes[:, None].astype(np.float64)  # C × K
    demand = r * n
    allowed = r > 0
    seen = np.zeros((c, k), bool)
    part = np.full(n, -1, np.int64)
    remaining = sizes.astype(np.int64).copy()
    for _ in range(c):
        open_classes = np.flatnonzero(remaining > 0)
        if not len(open_classes):
            break
        i = int(open_classes[np.argmin(remaining[open_classes])])
        spread = sizes[i] >= allowed.sum()
        for row in members[i]:
            if part[row] >= 0:
                continue
            score = class_demand[i]
            if spread and not seen[i][allowed].all():
                score = np.where(seen[i], -np.inf, score)
            best = _argmax_ties(score, demand, allowed, rng)
            part[row] = best
            demand[best] -= 1
            cls = px[pi[row] : pi[row + 1]]
            class_demand[cls, best] -= 1
            seen[cls, best] = True
            remaining[cls] -= 1
    for row in perm[part[perm] < 0]:
        best = _argmax_ties(demand, demand, allowed, rng)
        part[row] = best
        demand[best] -= 1
    return part


def stratified_split(
    labels: LabelSet, fractions: Sequence[float], seed: int = 0
) -> list[np.ndarray]:
    """Ascending row indices of each part (see :func:`iterative_stratification`)."""
    part = iterative_stratification(labels, fractions, seed)
    return [np.flatnonzero(part == j) for j in range(len(fractions))]


def _columns(labels: LabelSet) -> list[np.ndarray]:
    return [labels.column_entries(j)[0] for j in range(labels.n_classes)]


def _argmax_ties(
    primary: np.ndarray, secondary: np.ndarray, allowed: np.ndarray, rng: np.random.Generator
) -> int:
    """Index maximising ``primary``, then ``secondary``, then a random choice; only ``allowed``."""
    p = np.where(allowed, primary, -np.inf)
    cand = np.flatnonzero(p == p.max())
    if len(cand) > 1:
        s = secondary[cand]
        cand = cand[s == s.max()]
    return int(cand[0] if len(cand) == 1 else rng.choice(cand))
