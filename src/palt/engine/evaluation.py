"""Evaluation glue: predict a split in every process, gather, de-duplicate by index, score.

A distributed sampler pads every process's shard to the same length by repeating samples, so
the gathered (index, logits) pairs hold duplicates; ``MultilabelAccumulator`` keeps one row per
sample index before any metric is computed (ecosystem survey §3.3).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from lightning.fabric import Fabric
from torch import nn
from torch.utils.data import DataLoader

from palt.labels import LabelSet
from palt.methods import Method
from palt.metrics import MultilabelAccumulator


@torch.no_grad()
def predict(
    fabric: Fabric, network: nn.Module, method: Method, loader: DataLoader
) -> tuple[np.ndarray, np.ndarray]:
    """(indices, fp32 logits) of ``loader`` gathered from every process, in gather order and
    *with* the duplicates of distributed padding (see :func:`deduplicate`)."""
    was_training = network.training
    network.eval()
    method.eval()
    idx_parts, logit_parts = [], []
    for x, _, idx in loader:
        with fabric.autocast():
            outputs = network(fabric.to_device(x))
        logit_parts.append(method.logits(outputs).float())
        idx_parts.append(fabric.to_device(idx))
    network.train(was_training)
    if not idx_parts:
        raise ValueError("nothing to predict: the split is empty")
    indices, logits = torch.cat(idx_parts), torch.cat(logit_parts)
    if fabric.world_size > 1:
        indices = fabric.all_gather(indices).reshape(-1)
        logits = fabric.all_gather(logits).reshape(-1, logits.shape[-1])
    return indices.cpu().numpy().astype(np.int64), logits.cpu().numpy().astype(np.float32)


def accumulate(indices: np.ndarray, logits: np.ndarray, labels: LabelSet) -> MultilabelAccumulator:
    """An accumulator holding the predictions against ``labels`` (rows by sample index)."""
    acc = MultilabelAccumulator(labels.n_classes, class_names=labels.classes)
    acc.update(indices, logits, labels.rows(indices))
    return acc


def score(
    indices: np.ndarray,
    logits: np.ndarray,
    labels: LabelSet,
    groups: dict[str, list[int]],
    threshold: float,
) -> tuple[Any, np.ndarray, np.ndarray]:
    """(``EvalResult``, sorted unique indices, their logits): every sample counted once."""
    acc = accumulate(indices, logits, labels)
    uniq, unique_logits, _ = acc.collect()
    return acc.compute(groups=groups, threshold=threshold), uniq, np.asarray(unique_logits)


def per_class_rows(
    result: Any,
    classes: tuple[str, ...],
    train: LabelSet,
    evaluated: LabelSet,
    split: str = "test",
) -> list[dict[str, Any]]:
    """``per_class.csv`` rows: class, group, the result's per-class metrics (AP, P, R, F1, …)
    and the positive / negative / unknown counts in train and in the evaluated split."""
    counts = {
        "train_pos": train.positive_counts(),
        "train_neg": train.negative_counts(),
        "train_unknown": train.unknown_counts(),
        f"{split}_pos": evaluated.positive_counts(),
        f"{split}_neg": evaluated.negative_counts(),
        f"{split}_unknown": evaluated.unknown_counts(),
    }
    skip = {"class", "name", "group", "n_pos", "n_neg", "n_unknown"}
    rows = []
    for c, metrics in enumerate(result.per_class()):
        row: dict[str, Any] = {"class": classes[c], "group": metrics.get("group") or ""}
        row.update({k: v for k, v in metrics.items() if k not in skip})
        row.update({k: int(v[c]) for k, v in counts.items()})
        rows.append(row)
    return rows
