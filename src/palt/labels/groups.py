"""Head / medium / tail groups of classes by their number of observed training positives.

Default rule (DB loss, COMIC; ImageNet-LT's many/medium/few-shot): head if ``n_c >= 100``,
tail if ``n_c < 20``, medium otherwise. Thresholds and inclusivity are parameters, and the rule
is written into every output (:meth:`GroupRule.to_dict`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

GROUP_NAMES = ("head", "medium", "tail")


@dataclass(frozen=True)
class GroupRule:
    """head: n ≥ head_min (or > if not head_inclusive); tail: n < tail_max (or ≤ if tail_inclusive)."""

    head_min: int = 100
    tail_max: int = 20
    head_inclusive: bool = True
    tail_inclusive: bool = False

    def __post_init__(self) -> None:
        if self.tail_max > self.head_min:
            raise ValueError(
                f"group rule: tail_max ({self.tail_max}) must not exceed head_min ({self.head_min})"
            )

    def assign(self, counts: np.ndarray) -> np.ndarray:
        """Group name per class (array of 'head' / 'medium' / 'tail')."""
        n = np.asarray(counts)
        head = n >= self.head_min if self.head_inclusive else n > self.head_min
        tail = n <= self.tail_max if self.tail_inclusive else n < self.tail_max
        return np.where(head, "head", np.where(tail, "tail", "medium"))

    def groups(self, counts: np.ndarray) -> dict[str, list[int]]:
        """Class indices per group, in the order head, medium, tail."""
        names = self.assign(counts)
        return {g: np.flatnonzero(names == g).tolist() for g in GROUP_NAMES}

    def describe(self) -> str:
        ge = "≥" if self.head_inclusive else ">"
        lt = "≤" if self.tail_inclusive else "<"
        return f"head: n {ge} {self.head_min}; tail: n {lt} {self.tail_max}; medium: otherwise"

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "text": self.describe()}

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> GroupRule:
        keys = {"head_min", "tail_max", "head_inclusive", "tail_inclusive"}
        unknown = set(d) - keys - {"text"}
        if unknown:
            raise ValueError(f"group rule: unknown keys {sorted(unknown)}; allowed {sorted(keys)}")
        return cls(**{k: d[k] for k in keys if k in d})  # type: ignore[arg-type]
