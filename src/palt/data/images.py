"""Image files as model inputs: decoding, the train/test transforms, the ``image`` input kind.

Transforms follow the COMIC / torchvision ImageNet recipe (specs/comic.md §4):

* train: ``RandomResizedCrop(size, scale, ratio)`` → ``RandomHorizontalFlip`` → tensor in
  [0, 1] → ``Normalize(mean, std)``;
* test: ``Resize(resize)`` (shorter side) → ``CenterCrop(size)`` → tensor → ``Normalize``.

Defaults: size 224, resize ``round(size · 256 / 224)``, scale (0.08, 1), ratio (3/4, 4/3),
ImageNet mean/std. Every image is converted to RGB. Training draws are a pure function of
(seed, epoch, sample index): the torch RNG is seeded per sample inside a forked RNG state, so
augmentation is the same in every process, with any number of workers and after a resume.

An image that cannot be decoded follows ``on_error``: ``fail`` raises :class:`ImageDecodeError`
naming the file; ``skip`` drops the sample from its batch, records it in ``dataset.skipped``
(index → message) and warns once per file. torchvision and pillow are imported lazily
(``[vision]`` extra).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from palt._vision import require
from palt.data.benchmark import Benchmark
from palt.data.datasets import Batch, register_input
from palt.labels import LabelSet

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
ON_ERROR = ("skip", "fail")
#: keys of the ``data.image`` config section
OPTIONS = ("size", "resize", "scale", "ratio", "flip", "mean", "std", "on_error")


class ImageDecodeError(ValueError):
    """An image file that cannot be read or decoded (policy ``fail``)."""


def image_transform(
    train: bool,
    *,
    size: int = 224,
    resize: int | None = None,
    scale: Sequence[float] = (0.08, 1.0),
    ratio: Sequence[float] = (3 / 4, 4 / 3),
    flip: bool = True,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> Callable[[Any], torch.Tensor]:
    """The train (random crop + flip) or test (resize + centre crop) transform of a PIL image."""
    t = require("torchvision.transforms", "image inputs")
    if size < 1 or (resize is not None and resize < size):
        raise ValueError(f"image size must be >= 1 and resize >= size, got {size}, {resize}")
    if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
        raise ValueError(f"mean/std need 3 values each (std > 0), got {mean}, {std}")
    if train:
        steps = [t.RandomResizedCrop(size, scale=tuple(scale), ratio=tuple(ratio), antialias=True)]
        if flip:
            steps.append(t.RandomHorizontalFlip())
    else:
        steps = [t.Resize(resize or round(size * 256 / 224), antialias=True), t.CenterCrop(size)]
    steps += [t.ToTensor(), t.Normalize(tuple(mean), tuple(std))]
    return t.Compose(steps)


def decode_image(path: str | Path) -> Any:
    """The image as an RGB PIL image; ``ImageDecodeError`` naming the file if it cannot be read."""
    pil = require("PIL.Image", "image inputs")
    try:
        with pil.open(path) as img:
            return img.convert("RGB")
    except (OSError, ValueError, SyntaxError, pil.DecompressionBombError) as err:
        raise ImageDecodeError(f"{path}: cannot decode image ({err})") from None


class ImageFileDataset(Dataset):
    """Image files with their label rows; items are ``(C×H×W float tensor, row, index)``.

    ``transform`` is applied to every image; if ``augments`` is true it is random, and it runs
    under a torch seed drawn from (``seed``, epoch, index). ``eval_transform`` is what
    :meth:`without_augmentation` uses.
    """

    def __init__(
        self,
        paths: Sequence[str | Path],
        labels: LabelSet,
        transform: Callable[[Any], torch.Tensor],
        *,
        size: int,
        augments: bool = False,
        eval_transform: Callable[[Any], torch.Tensor] | None = None,
        on_error: str = "skip",
        seed: int = 0,
    ) -> None:
        if len(paths) != labels.n_samples:
            raise ValueError(f"{len(paths)} image paths for {labels.n_samples} labelled samples")
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
        self.paths = [Path(p) for p in paths]
        self.labels = labels
        self.transform = transform
        self.eval_transform = eval_transform or transform
        self.size = int(size)
        self.augments = bool(augments)
        self.on_error = on_error
        self.seed = int(seed)
        self.epoch = 0
        self.skipped: dict[int, str] = {}

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (3, self.size, self.size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def without_augmentation(self) -> ImageFileDataset:
        """The same files under the evaluation transform (skips seen so far are shared)."""
        if not self.augments:
            return self
        view = ImageFileDataset(
            self.paths,
            self.labels,
            self.eval_transform,
            size=self.size,
            on_error=self.on_error,
            seed=self.seed,
        )
        view.skipped = self.skipped
        return view

    def __len__(self) -> int:
        return self.labels.n_samples

    def __getitem__(self, index: int) -> Batch:
        x, y, i = self.__getitems__([index])
        if len(i) == 0:
            raise ImageDecodeError(self.skipped[int(index)])
        return x[0], y[0], i[0]

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        images, kept = [], []
        for i in (int(k) for k in indices):
            try:
                img = decode_image(self.paths[i])
            except ImageDecodeError as err:
                if self.on_error == "fail":
                    raise
                if i not in self.skipped:
                    self.skipped[i] = str(err)
                    warnings.warn(f"skipped sample {i}: {err}", stacklevel=2)
                continue
            images.append(self._apply(img, i))
            kept.append(i)
        idx = np.asarray(kept, dtype=np.int64)
        x = torch.stack(images) if images else torch.empty((0, *self.input_shape))
        return x, torch.from_numpy(self.labels.rows(idx)), torch.from_numpy(idx)

    def _apply(self, img: Any, index: int) -> torch.Tensor:
        if not self.augments:
            return self.transform(img)
        draw = np.random.SeedSequence([self.seed, self.epoch, index]).generate_state(1)[0]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(draw))
            return self.transform(img)


def transform_options(options: dict[str, Any], where: str = "data.image") -> dict[str, Any]:
    """Validate the ``data.image`` options (keys of :data:`OPTIONS`) and return them."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: {', '.join(OPTIONS)}")
    on_error = options.get("on_error", "skip")
    if on_error not in ON_ERROR:
        raise ValueError(f"{where}.on_error: {on_error!r} is not allowed; allowed: skip, fail")
    return dict(options)


def split_dataset(
    benchmark: Benchmark, split: str, options: dict[str, Any], *, train: bool, seed: int = 0
) -> ImageFileDataset:
    """The image dataset of one split: train transform if ``train``, else the test transform."""
    opts = transform_options(options)
    on_error = opts.pop("on_error", "skip")
    size = int(opts.get("size", 224))
    test_opts = {k: v for k, v in opts.items() if k in ("size", "resize", "mean", "std")}
    train_opts = {k: v for k, v in opts.items() if k != "resize"}
    eval_transform = image_transform(False, **test_opts)
    data = benchmark.splits[split]
    paths = [benchmark.image_path(split, row) for row in range(data.labels.n_samples)]
    return ImageFileDataset(
        paths,
        data.labels,
        image_transform(True, **train_opts) if train else eval_transform,
        size=size,
        augments=train,
        eval_transform=eval_transform,
        on_error=on_error,
        seed=seed,
    )


@register_input("image")
def _image_inputs(
    benchmark: Benchmark, splits: list[str], options: dict[str, Any], seed: int
) -> tuple[dict[str, Dataset], dict[str, Any]]:
    if benchmark.input_kind != "image":
        raise ValueError(
            f"data.input 'image' needs an image-file benchmark; {benchmark.root} holds "
            f"{benchmark.input_kind!r} inputs"
        )
    opts = dict(options.get("image") or {})
    return {s: split_dataset(benchmark, s, opts, train=s == "train", seed=seed) for s in splits}, {}


__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ImageDecodeError",
    "ImageFileDataset",
    "decode_image",
    "image_transform",
    "split_dataset",
]
