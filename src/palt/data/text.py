"""TF-IDF text features fitted on training texts only, cached on disk, fed to torch in batches.

Weights (scikit-learn ``TfidfVectorizer`` with ``sublinear_tf=True``, ``smooth_idf=True``,
``norm="l2"``): for term t in document d of the training set of n documents,

    tf(t, d) = 1 + log(count(t, d)),   idf(t) = 1 + log((1 + n) / (1 + df(t))),
    x_d = tf·idf / ‖tf·idf‖₂

The vocabulary (the ``max_features`` most frequent uni- and bigrams with ``df ≥ min_df``) and
the idf come from the training texts only; validation/test texts are transformed with them, so
nothing about held-out texts leaks into the features.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import sklearn
import torch
from sklearn.feature_extraction.text import TfidfVectorizer

from palt._io import atomic_path, read_json, write_json


@dataclass(frozen=True)
class TfidfFeatures:
    """``matrices[0]`` = training texts, then the other groups in the order given."""

    matrices: tuple[sp.csr_matrix, ...]
    vocabulary: tuple[str, ...]


def _cache_key(groups: Sequence[Sequence[str]], params: dict) -> str:
    h = hashlib.sha256(json.dumps(params, sort_keys=True).encode())
    for group in groups:
        h.update(f"group {len(group)}\n".encode())
        for text in group:
            data = text.encode("utf-8")
            h.update(len(data).to_bytes(8, "little"))
            h.update(data)
    return h.hexdigest()[:32]


def tfidf_features(
    texts_train: Sequence[str],
    *texts_other: Sequence[str],
    max_features: int = 20000,
    ngram_range: tuple[int, int] = (1, 2),
    min_df: int = 2,
    cache_dir: str | os.PathLike[str] | None = None,
) -> TfidfFeatures:
    """Fit TF-IDF on ``texts_train``, transform every group; ``float32`` CSR matrices.

    With ``cache_dir``, results are stored as ``tfidf-<key>-<i>.npz`` (``scipy.sparse.save_npz``)
    plus ``tfidf-<key>.json`` (vocabulary), where ``<key>`` hashes the texts and parameters, and
    loaded with ``allow_pickle=False`` on the next call with the same input.
    """
    params = {
        "max_features": int(max_features),
        "ngram_range": [int(ngram_range[0]), int(ngram_range[1])],
        "min_df": int(min_df),
        "sublinear_tf": True,
        "sklearn": sklearn.__version__,
    }
    groups = [list(texts_train), *(list(g) for g in texts_other)]
    cache = Path(cache_dir) if cache_dir is not None else None
    if cache is not None:
        key = _cache_key(groups, params)
        meta_path = cache / f"tfidf-{key}.json"
        paths = [cache / f"tfidf-{key}-{i}.npz" for i in range(len(groups))]
        if meta_path.is_file() and all(p.is_file() for p in paths):
            return _load(meta_path, paths)
    vec = TfidfVectorizer(
        max_features=max_features,
        ngram_range=tuple(ngram_range),
        min_df=min_df,
        sublinear_tf=True,
        dtype=np.float32,
    )
    train = vec.fit_transform(groups[0]).tocsr()
    mats = (train, *(vec.transform(g).tocsr() for g in groups[1:]))
    result = TfidfFeatures(mats, tuple(vec.get_feature_names_out().tolist()))
    if cache is not None:
        for m, p in zip(mats, paths, strict=True):
            with atomic_path(p) as tmp, tmp.open("wb") as f:
                sp.save_npz(f, m, compressed=True)
        write_json(meta_path, {"params": params, "vocabulary": list(result.vocabulary)})
    return result


def _load(meta_path: Path, paths: list[Path]) -> TfidfFeatures:
    meta = read_json(meta_path)
    mats = []
    for p in paths:
        with np.load(p, allow_pickle=False) as z:
            if z["format"].item() not in (b"csr", "csr"):
                raise ValueError(f"{p}: expected a CSR matrix, got format {z['format'].item()!r}")
            shape = tuple(int(v) for v in z["shape"])
            mats.append(sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=shape))
    return TfidfFeatures(tuple(mats), tuple(meta["vocabulary"]))


def batch_tensor(
    matrix: sp.csr_matrix, rows: Sequence[int] | np.ndarray, sparse: bool = False
) -> torch.Tensor:
    """Rows of a CSR matrix as a dense ``float32`` tensor, or a sparse COO tensor if ``sparse``."""
    part = matrix[np.asarray(rows, dtype=np.int64)].tocoo()
    if not sparse:
        return torch.from_numpy(np.asarray(part.toarray(), dtype=np.float32))
    index = torch.from_numpy(np.vstack([part.row, part.col]).astype(np.int64))
    values = torch.from_numpy(part.data.astype(np.float32))
    return torch.sparse_coo_tensor(index, values, part.shape, check_invariants=True).coalesce()


def iter_batches(
    matrix: sp.csr_matrix, batch_size: int, sparse: bool = False
) -> Iterator[torch.Tensor]:
    """Consecutive row batches of ``matrix`` as tensors (see :func:`batch_tensor`)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for start in range(0, matrix.shape[0], batch_size):
        yield batch_tensor(
            matrix, np.arange(start, min(start + batch_size, matrix.shape[0])), sparse
        )
