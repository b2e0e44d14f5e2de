"""``EvalResult``: per-class AP and counts, summary numbers, excluded classes and why."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from palt.metrics.thresholded import per_class_prf, summary_prf


def exclusion_reason(n_pos: int, n_neg: int) -> str | None:
    """Why a class cannot have an AP (None when it can)."""
    if n_pos == 0 and n_neg == 0:
        return "no annotated entry"
    if n_pos == 0:
        return "no annotated positive"
    if n_neg == 0:
        return "no annotated negative"
    return None


@dataclass(frozen=True)
class EvalResult:
    """Everything :func:`palt.metrics.evaluate` measured.

    ``ap`` is NaN for excluded classes. ``groups`` maps a group name to its class indices (all of
    them; a group mAP averages only the evaluated ones). ``settings`` records the convention and
    the threshold or top-k used.
    """

    ap: np.ndarray
    n_pos: np.ndarray
    n_neg: np.ndarray
    n_unknown: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    micro_ap: float
    class_names: tuple[str, ...] | None = None
    groups: dict[str, list[int]] = field(default_factory=dict)
    settings: dict[str, object] = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return len(self.ap)

    @property
    def evaluated(self) -> np.ndarray:
        """Boolean mask of the classes in the mean: ≥ 1 annotated positive and negative."""
        return (self.n_pos > 0) & (self.n_neg > 0)

    def _name(self, c: int) -> str | int:
        return self.class_names[c] if self.class_names is not None else c

    @property
    def excluded(self) -> list[str | int]:
        """Classes left out of every mean (names when known, else indices)."""
        return [self._name(int(c)) for c in np.flatnonzero(~self.evaluated)]

    @property
    def exclusion_reasons(self) -> dict[str | int, str]:
        """Excluded class → 'no annotated positive' / 'no annotated negative' / 'no annotated entry'."""
        out: dict[str | int, str] = {}
        for c in np.flatnonzero(~self.evaluated):
            reason = exclusion_reason(int(self.n_pos[c]), int(self.n_neg[c]))
            out[self._name(int(c))] = reason or ""
        return out

    def group_map(self, name: str) -> float:
        """Mean AP over the group's evaluated classes; NaN when it has none."""
        members = np.asarray(self.groups[name], dtype=np.int64)
        aps = self.ap[members[self.evaluated[members]]] if len(members) else self.ap[:0]
        return float(aps.mean()) if len(aps) else float("nan")

    def summary(self) -> dict[str, float]:
        """mAP, mAP_weighted, micro_AP, mAP_<group>, CP, CR, CF1_*, OP, OR, OF1, counts.

        Fractions in [0, 1]. Macro numbers average the evaluated classes; micro_AP and
        OP/OR/OF1 pool every annotated entry of every class.
        """
        ev = self.evaluated
        out: dict[str, float] = {}
        if ev.any():
            out["mAP"] = float(self.ap[ev].mean())
            w = self.n_pos[ev].astype(np.float64)
            out["mAP_weighted"] = float((self.ap[ev] * w).sum() / w.sum())
        else:
            out["mAP"] = out["mAP_weighted"] = float("nan")
        out["micro_AP"] = self.micro_ap
        for g in self.groups:
            out[f"mAP_{g}"] = self.group_map(g)
            members = np.asarray(self.groups[g], dtype=np.int64)
            out[f"n_classes_{g}"] = int(ev[members].sum()) if len(members) else 0
        out.update(summary_prf(self.tp, self.fp, self.fn, ev))
        out["n_classes_evaluated"] = int(ev.sum())
        out["n_classes_excluded"] = int((~ev).sum())
        return out

    def per_class(self) -> list[dict[str, object]]:
        """One row per class: index, name, AP, n_pos, n_neg, n_unknown, group, P, R, F1, …"""
        p, r, f = per_class_prf(self.tp, self.fp, self.fn)
        group_of: dict[int, list[str]] = {}
        for g, members in self.groups.items():
            for c in members:
                group_of.setdefault(int(c), []).append(g)
        rows = []
        for c in range(self.n_classes):
            rows.append(
                {
                    "class": c,
                    "name": self.class_names[c] if self.class_names is not None else None,
                    "AP": float(self.ap[c]),
                    "n_pos": int(self.n_pos[c]),
                    "n_neg": int(self.n_neg[c]),
                    "n_unknown": int(self.n_unknown[c]),
                    "group": ",".join(group_of.get(c, [])) or None,
                    "P": float(p[c]),
                    "R": float(r[c]),
                    "F1": float(f[c]),
                    "TP": int(self.tp[c]),
                    "FP": int(self.fp[c]),
                    "FN": int(self.fn[c]),
                    "excluded": exclusion_reason(int(self.n_pos[c]), int(self.n_neg[c])),
                }
            )
        return rows
