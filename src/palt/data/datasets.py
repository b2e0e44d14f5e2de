"""PyTorch datasets over a benchmark split: every item is ``(input, target_row, index)``.

``target_row`` is the int8 row of observed labels (1 / 0 / −1) and ``index`` the row number in
the split, which methods and distributed evaluation key on. Datasets implement
``__getitems__`` so a DataLoader fetches a whole batch at once (sparse TF-IDF rows become dense
per batch, memory-mapped arrays are read with one fancy index); :func:`collate` passes such
batches through.

Inputs come by *kind*, each with a factory registered in ``INPUT_FACTORIES``:

* ``features`` — an N×D float matrix per split, ``<features>/<split>.npy``, or the sharded
  feature folder that ``palt extract`` writes (:mod:`palt.data.features`);
* ``image`` — image files, decoded and transformed per item (:mod:`palt.data.images`);
* ``text`` — TF-IDF features fitted on the training texts (``palt.data.text.tfidf_features``);
* ``array`` — the benchmark's ``images.npy`` (uint8 N×H×W or N×H×W×3), scaled to [−1, 1], with
  optional training-time augmentation (random crop after padding with black, horizontal flip) drawn
  from (seed, epoch, index) so that it is the same in every process and after a resume.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch.utils.data import Dataset, default_collate

from palt.data.benchmark import Benchmark, BenchmarkError
from palt.labels import LabelSet

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class FeatureDataset(Dataset):
    """Rows of an N×D feature matrix (dense, memory-mapped or scipy-sparse) with their labels."""

    def __init__(self, features: np.ndarray | sp.spmatrix, labels: LabelSet) -> None:
        if features.ndim != 2:
            raise ValueError(f"features must be an N×D matrix, got shape {features.shape}")
        if features.shape[0] != labels.n_samples:
            raise ValueError(
                f"{features.shape[0]} feature rows for {labels.n_samples} labelled samples"
            )
        self.features = features.tocsr() if sp.issparse(features) else features
        self.labels = labels

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (int(self.features.shape[1]),)

    def __len__(self) -> int:
        return self.labels.n_samples

    def __getitem__(self, index: int) -> Batch:
        x, y, i = self.__getitems__([index])
        return x[0], y[0], i[0]

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        idx = np.asarray(indices, dtype=np.int64)
        rows = self.features[idx]
        x = rows.toarray() if sp.issparse(rows) else np.asarray(rows)
        return (
            torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
            torch.from_numpy(self.labels.rows(idx)),
            torch.from_numpy(idx),
        )


class ArrayImageDataset(Dataset):
    """uint8 images (N×H×W or N×H×W×3) as float C×H×W tensors in [−1, 1]."""

    def __init__(
        self,
        images: np.ndarray,
        labels: LabelSet,
        *,
        crop_padding: int = 0,
        flip: bool = False,
        seed: int = 0,
    ) -> None:
        if images.ndim not in (3, 4):
            raise ValueError(f"images must be N×H×W or N×H×W×C, got shape {images.shape}")
        if len(images) != labels.n_samples:
            raise ValueError(f"{len(images)} images for {labels.n_samples} labelled samples")
        if crop_padding < 0:
            raise ValueError(f"crop_padding must be >= 0, got {crop_padding}")
        self.images = images
        self.labels = labels
        self.crop_padding = int(crop_padding)
        self.flip = bool(flip)
        self.seed = int(seed)
        self.epoch = 0

    @property
    def input_shape(self) -> tuple[int, ...]:
        h, w = self.images.shape[1:3]
        c = 1 if self.images.ndim == 3 else self.images.shape[3]
        return (int(c), int(h), int(w))

    @property
    def augments(self) -> bool:
        return self.crop_padding > 0 or self.flip

    def set_epoch(self, epoch: int) -> None:
        """Augmentation draws depend on (seed, epoch, index) only."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.labels.n_samples

    def __getitem__(self, index: int) -> Batch:
        x, y, i = self.__getitems__([index])
        return x[0], y[0], i[0]

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        idx = np.asarray(indices, dtype=np.int64)
        order = np.argsort(idx, kind="stable")  # memory-mapped reads want ascending rows
        raw = np.empty((len(idx), *self.images.shape[1:]), dtype=np.uint8)
        raw[order] = self.images[idx[order]]
        x = torch.from_numpy(raw).float().div_(127.5).sub_(1.0)
        x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2).contiguous()
        if self.augments:
            x = self._augment(x, idx)
        return x, torch.from_numpy(self.labels.rows(idx)), torch.from_numpy(idx)

    def _augment(self, x: torch.Tensor, idx: np.ndarray) -> torch.Tensor:
        p = self.crop_padding
        h, w = x.shape[-2:]
        draws = _hash_uniform(self.seed, self.epoch, idx, 3)
        if p:
            x = torch.nn.functional.pad(x, (p, p, p, p), value=-1.0)  # black border
            dy = np.minimum((draws[:, 0] * (2 * p + 1)).astype(np.int64), 2 * p)
            dx = np.minimum((draws[:, 1] * (2 * p + 1)).astype(np.int64), 2 * p)
            x = torch.stack(
                [x[k, :, dy[k] : dy[k] + h, dx[k] : dx[k] + w] for k in range(len(idx))]
            )
        if self.flip:
            mirror = torch.from_numpy(draws[:, 2] < 0.5)
            x = torch.where(mirror[:, None, None, None], x.flip(-1), x)
        return x


def _hash_uniform(seed: int, epoch: int, idx: np.ndarray, k: int) -> np.ndarray:
    """len(idx)×k numbers in [0, 1), a pure function of (seed, epoch, index) (splitmix64)."""
    with np.errstate(over="ignore"):
        z = (
            np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
            + np.uint64(epoch) * np.uint64(0xBF58476D1CE4E5B9)
            + idx.astype(np.uint64) * np.uint64(0x94D049BB133111EB)
        )
        out = np.empty((len(idx), k), dtype=np.float64)
        for j in range(k):
            z = z + np.uint64(0x9E3779B97F4A7C15)
            r = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            r = (r ^ (r >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            r = r ^ (r >> np.uint64(31))
            out[:, j] = (r >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return out


def collate(batch: Any) -> Any:
    """Pass batches built by ``__getitems__`` through; stack lists of single items."""
    if isinstance(batch, tuple):
        return batch
    return default_collate(batch)


# ---------------------------------------------------------------------- factories by input kind
#: ``factory(benchmark, splits, data_config, seed) -> ({split: dataset}, state)``; ``state`` is
#: JSON-able and lets :func:`inputs_for_prediction` turn new raw inputs into model inputs
InputFactory = Callable[..., tuple[dict[str, Dataset], dict[str, Any]]]
INPUT_FACTORIES: dict[str, InputFactory] = {}


def register_input(kind: str) -> Callable[[InputFactory], InputFactory]:
    def wrap(factory: InputFactory) -> InputFactory:
        if kind in INPUT_FACTORIES:
            raise ValueError(f"input kind {kind!r} is registered twice")
        INPUT_FACTORIES[kind] = factory
        return factory

    return wrap


def resolve_input_kind(requested: str, benchmark: Benchmark, features: str | None) -> str:
    """The input kind to build: ``auto`` → ``features`` if a feature folder is given, else the
    benchmark's kind."""
    if requested != "auto":
        return requested
    if features:
        return "features"
    return benchmark.input_kind


def build_datasets(
    benchmark: Benchmark,
    kind: str,
    splits: Sequence[str],
    options: dict[str, Any],
    seed: int,
) -> tuple[dict[str, Dataset], dict[str, Any]]:
    """Datasets of ``splits`` for input ``kind``; ``options`` = the ``data`` config as a dict."""
    if kind not in INPUT_FACTORIES:
        raise ValueError(
            f"data.input: no dataset for input kind {kind!r}; available: "
            f"{', '.join(sorted(INPUT_FACTORIES))}"
        )
    missing = [s for s in splits if s not in benchmark.splits]
    if missing:
        raise BenchmarkError(
            f"{benchmark.root}: split(s) {missing} missing; present: {sorted(benchmark.splits)}"
        )
    return INPUT_FACTORIES[kind](benchmark, list(splits), options, seed)


@register_input("features")
def _features(
    benchmark: Benchmark, splits: list[str], options: dict[str, Any], seed: int
) -> tuple[dict[str, Dataset], dict[str, Any]]:
    folder = options.get("features")
    if not folder:
        raise ValueError(
            "data.features: input kind 'features' needs the folder of <split>.npy files"
        )
    from palt.data.features import is_feature_cache, load_split

    if is_feature_cache(folder):  # sharded output of `palt extract`
        return {s: load_split(folder, s, benchmark.splits[s].labels) for s in splits}, {}
    out = {}
    for split in splits:
        path = Path(folder) / f"{split}.npy"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: feature file not found (data.features={folder})")
        try:
            matrix = np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError as err:
            raise ValueError(f"{path}: cannot read a numeric array ({err})") from None
        labels = benchmark.splits[split].labels
        if matrix.ndim != 2 or matrix.shape[0] != labels.n_samples:
            raise ValueError(
                f"{path}: expected a {labels.n_samples}×D matrix for split {split!r}, "
                f"got shape {matrix.shape}"
            )
        out[split] = FeatureDataset(matrix, labels)
    return out, {}


@register_input("array")
def _array(
    benchmark: Benchmark, splits: list[str], options: dict[str, Any], seed: int
) -> tuple[dict[str, Dataset], dict[str, Any]]:
    augment = dict(options.get("augment") or {})
    unknown = sorted(set(augment) - {"crop_padding", "flip"})
    if unknown:
        raise ValueError(f"data.augment: unknown key(s) {unknown}; allowed: crop_padding, flip")
    out = {}
    for split in splits:
        data = benchmark.splits[split]
        if data.images is None:
            raise BenchmarkError(f"{benchmark.root / split}: input kind 'array' needs images.npy")
        train_aug = augment if split == "train" else {}
        out[split] = ArrayImageDataset(
            data.images,
            data.labels,
            crop_padding=int(train_aug.get("crop_padding", 0)),
            flip=bool(train_aug.get("flip", False)),
            seed=seed,
        )
    return out, {}


@register_input("text")
def _text(
    benchmark: Benchmark, splits: list[str], options: dict[str, Any], seed: int
) -> tuple[dict[str, Dataset], dict[str, Any]]:
    from palt.data.text import tfidf_features

    order = ["train", *[s for s in splits if s != "train"]]
    texts = [[str(row["text"]) for row in benchmark.splits[s].inputs or []] for s in order]
    try:
        tfidf = tfidf_features(texts[0], *texts[1:], **dict(options.get("text") or {}))
    except TypeError as err:
        raise ValueError(f"data.text: {err}") from None
    mats = dict(zip(order, tfidf.matrices, strict=True))
    return {s: FeatureDataset(mats[s], benchmark.splits[s].labels) for s in splits}, {}


def without_augmentation(dataset: Dataset) -> Dataset:
    """The same samples with training-time augmentation switched off (for eval-mode passes)."""
    if hasattr(dataset, "without_augmentation"):
        return dataset.without_augmentation()
    if isinstance(dataset, ArrayImageDataset) and dataset.augments:
        return ArrayImageDataset(dataset.images, dataset.labels, seed=dataset.seed)
    return dataset


from palt.data import images as _images  # noqa: E402,F401 - registers the "image" input kind
