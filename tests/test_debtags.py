"""Debtags snapshot loader and TF-IDF features (fit on training texts only, disk cache)."""

from __future__ import annotations

import gzip
import json
import math
import shutil
from collections import Counter

import numpy as np
import pytest
import torch

from palt.data.builtin.debtags import (
    MANIFEST,
    SNAPSHOT,
    SnapshotError,
    load_debtags,
    read_snapshot,
    snapshot_dir,
)
from palt.data.text import batch_tensor, iter_batches, tfidf_features

DROPPED = ("role::", "implemented-in::", "devel::lang", "special::", "suite::", "made-of::")


@pytest.fixture(scope="module")
def raw_rows() -> list[dict]:
    with gzip.open(snapshot_dir() / SNAPSHOT, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def debtags():
    return load_debtags(min_count=5)


def test_row_count_matches_manifest(raw_rows):
    manifest = json.loads((snapshot_dir() / MANIFEST).read_text())
    assert len(raw_rows) == manifest["rows"]
    assert [r["package"] for r in raw_rows] == sorted(r["package"] for r in raw_rows)
    assert set(raw_rows[0]) == {"package", "section", "short", "long", "depends", "tags"}


def test_no_filtered_facet_present(raw_rows, debtags):
    tags = {t for r in raw_rows for t in r["tags"]}
    assert tags, "snapshot has no tags"
    assert not [t for t in tags if t.startswith(DROPPED) or "TODO" in t]
    assert not [t for t in debtags.labels.classes if t.startswith(DROPPED)]


def test_labels_follow_min_count(raw_rows, debtags):
    counts = Counter(t for r in raw_rows for t in r["tags"])
    expected = sorted(t for t, n in counts.items() if n >= 5)
    assert list(debtags.labels.classes) == expected
    for c, name in enumerate(debtags.labels.classes):
        assert debtags.labels.positive_counts()[c] == counts[name]
    by_name = {r["package"]: r for r in raw_rows}
    row = debtags.ids.index("0ad") if "0ad" in debtags.ids else 0
    pkg = by_name[debtags.ids[row]]
    got = {debtags.labels.classes[c] for c in debtags.labels.positives_of(row)}
    assert got == {t for t in pkg["tags"] if counts[t] >= 5}
    assert debtags.texts[row].startswith(f"{pkg['package']}\nsection: {pkg['section']}\n")
    assert pkg["short"] in debtags.texts[row]
    assert debtags.labels.unlisted == "negative"
    assert len(debtags.texts) == len(debtags.ids) == debtags.labels.n_samples


def test_sha_check_catches_corruption(tmp_path):
    shutil.copy(snapshot_dir() / MANIFEST, tmp_path / MANIFEST)
    data = bytearray((snapshot_dir() / SNAPSHOT).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / SNAPSHOT).write_bytes(bytes(data))
    with pytest.raises(SnapshotError, match="damaged"):
        load_debtags(snapshot=tmp_path)
    (tmp_path / SNAPSHOT).unlink()
    with pytest.raises(SnapshotError, match="not found"):
        read_snapshot(tmp_path)


def test_row_count_mismatch_is_reported(tmp_path):
    manifest = json.loads((snapshot_dir() / MANIFEST).read_text())
    manifest["rows"] += 1
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    shutil.copy(snapshot_dir() / SNAPSHOT, tmp_path / SNAPSHOT)
    with pytest.raises(SnapshotError, match="rows"):
        read_snapshot(tmp_path)


TRAIN = ["the red apple", "a red car", "the blue car", "apple pie recipe"]
TEST = ["zebraword red apple", "blue zebraword"]


def test_tfidf_vocabulary_and_idf_from_train_only():
    feats = tfidf_features(TRAIN, TEST, max_features=100, ngram_range=(1, 1), min_df=1)
    assert "zebraword" not in feats.vocabulary
    assert "red" in feats.vocabulary and "apple" in feats.vocabulary
    # Independent computation of the test row "zebraword red apple": idf from the 4 train docs.
    n = len(TRAIN)
    df = {w: sum(w in d.split() for d in TRAIN) for w in ("red", "apple")}
    idf = {w: 1 + math.log((1 + n) / (1 + df[w])) for w in df}
    norm = math.sqrt(sum(v * v for v in idf.values()))
    row = feats.matrices[1][0].toarray().ravel()
    for w in ("red", "apple"):
        assert row[feats.vocabulary.index(w)] == pytest.approx(idf[w] / norm, rel=1e-6)
    assert np.count_nonzero(row) == 2
    assert feats.matrices[0].dtype == np.float32


def test_tfidf_cache_roundtrip(tmp_path):
    first = tfidf_features(TRAIN, TEST, max_features=50, min_df=1, cache_dir=tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len([f for f in files if f.endswith(".npz")]) == 2
    second = tfidf_features(TRAIN, TEST, max_features=50, min_df=1, cache_dir=tmp_path)
    assert second.vocabulary == first.vocabulary
    for a, b in zip(first.matrices, second.matrices, strict=True):
        assert (a != b).nnz == 0 and a.shape == b.shape
    tfidf_features(TRAIN, TEST, max_features=10, min_df=1, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 4  # other parameters → other key


def test_batches_dense_and_sparse():
    m = tfidf_features(TRAIN, max_features=50, min_df=1).matrices[0]
    dense = torch.cat(list(iter_batches(m, 3)))
    assert dense.dtype == torch.float32
    np.testing.assert_allclose(dense.numpy(), m.toarray())
    sparse = batch_tensor(m, [2, 0], sparse=True)
    np.testing.assert_allclose(sparse.to_dense().numpy(), m.toarray()[[2, 0]])


def test_manifest_without_checksum_is_rejected(tmp_path):
    (tmp_path / MANIFEST).write_text(json.dumps({"rows": 3}))
    shutil.copy(snapshot_dir() / SNAPSHOT, tmp_path / SNAPSHOT)
    with pytest.raises(SnapshotError, match="sha256"):
        read_snapshot(tmp_path)
