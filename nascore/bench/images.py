"""Real image minibatches for proxies (CIFAR-10, CIFAR-100, ImageNet16-120 surrogate).

Files live under ``<data_root>/images/`` (see ``shared/data/SOURCES.md``). Batches are drawn
without replacement by ``numpy.random.default_rng(seed)``, so a seed fixes the batch; they are
float32 NCHW tensors normalised with NB201's per-dataset mean/std, plus int64 labels.

Splits (``split=None`` takes the first listed):

* ``cifar10``: ``train`` (1,000 real training images, 100 per class) or ``test`` (test images
  0-999).
* ``cifar100``: ``fine0-9`` (1,000 real images of fine classes 0-9 ONLY, 100 per class; labels
  are true CIFAR-100 fine labels 0-9, so a 100-way head sees only 10 classes), ``eranhead``
  (100 images, 63 classes) or ``foolbox_test`` (test images 0-19).
* ``imagenet16_120``: ``surrogate`` only. It is NOT ImageNet16-120: one real ImageNet photo per
  class, box-downsampled to 16x16. Loading it issues :class:`SurrogateDataWarning`; check
  :func:`is_surrogate` and say so wherever results use it.
"""

from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from ..paths import data_root

#: NB201's normalisation (xautodl ``get_datasets``); CIFAR-100 uses CIFAR-10's values there.
_CIFAR_MEAN = tuple(v / 255 for v in (125.3, 123.0, 113.9))
_CIFAR_STD = tuple(v / 255 for v in (63.0, 62.1, 66.7))
MEAN_STD = {
    "cifar10": (_CIFAR_MEAN, _CIFAR_STD),
    "cifar100": (_CIFAR_MEAN, _CIFAR_STD),
    "imagenet16_120": (tuple(v / 255 for v in (122.68, 116.66, 104.01)),
                       tuple(v / 255 for v in (63.22, 61.26, 66.76))),
}
NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "imagenet16_120": 120}

FILES = {
    "cifar10": {"train": "images/cifar10/cifar10_train_balanced1000.npz",
                "test": "images/cifar10/cifar10_test_first1000.npz"},
    "cifar100": {"fine0-9": "images/cifar100/cifar100_modelgardener_fine0-9_1000.npz",
                 "eranhead": "images/cifar100/cifar100_eranhead_100.npz",
                 "foolbox_test": "images/cifar100/cifar100_foolbox_test20.npz"},
    "imagenet16_120": {"surrogate": "images/imagenet16_120_surrogate/imagenet16_120_surrogate_box16_120.npz"},
}


class SurrogateDataWarning(UserWarning):
    """Issued when a batch comes from a surrogate, not the benchmark's own images."""


def is_surrogate(dataset: str) -> bool:
    """Whether the kept images for ``dataset`` are a surrogate (True for ImageNet16-120)."""
    return _key(dataset) == "imagenet16_120"


def _key(dataset: str) -> str:
    k = dataset.lower().replace("-", "_")
    if k in ("imagenet16", "imagenet16_120", "imagenet"):
        k = "imagenet16_120"
    if k not in FILES:
        raise ValueError(f"unknown dataset {dataset!r}: use one of {sorted(FILES)}")
    return k


def _path(dataset: str, split: Optional[str], root, path) -> Path:
    ds = _key(dataset)
    if path is None:
        split = split or next(iter(FILES[ds]))
        if split not in FILES[ds]:
            raise ValueError(f"unknown split {split!r} for {ds}: use one of {list(FILES[ds])}")
        path = Path(root if root is not None else data_root()) / FILES[ds][split]
    p = Path(path).expanduser().resolve()
    if not p.is_file():
        raise FileNotFoundError(f"missing image file {p}: set NASCORE_DATA to the shared data "
                                "folder (see shared/data/SOURCES.md)")
    return p


@functools.lru_cache(maxsize=16)
def _load_npz(stamp: tuple) -> tuple[np.ndarray, np.ndarray]:
    path = stamp[0]
    try:
        with np.load(path, allow_pickle=False) as z:
            images, labels = z["images"], z["labels"]
    except (KeyError, ValueError, OSError, EOFError) as e:
        raise ValueError(f"malformed image file {path}: {e}") from e
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"malformed image file {path}: images must be (N,H,W,3) uint8, "
                         f"got {images.shape} {images.dtype}")
    if labels.shape != (images.shape[0],):
        raise ValueError(f"malformed image file {path}: {labels.shape[0] if labels.ndim else 0} "
                         f"labels for {images.shape[0]} images")
    images.setflags(write=False)
    labels = labels.astype(np.int64)
    labels.setflags(write=False)
    return images, labels


def load_arrays(dataset: str, split: Optional[str] = None, root=None, path=None):
    """All images of a split as read-only ``(images (N,H,W,3) uint8, labels (N,) int64)``."""
    p = _path(dataset, split, root, path)
    st = p.stat()
    return _load_npz((str(p), st.st_size, st.st_mtime_ns))


def normalise(images: np.ndarray, dataset: str) -> torch.Tensor:
    """uint8 NHWC -> float32 NCHW normalised with NB201's mean/std for ``dataset``."""
    mean, std = MEAN_STD[_key(dataset)]
    x = torch.tensor(np.asarray(images)).permute(0, 3, 1, 2).float().div_(255.0)  # copies
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def load_minibatch(dataset: str, batch_size: int, seed: int = 0, split: Optional[str] = None,
                   root=None, path=None) -> tuple[torch.Tensor, torch.Tensor]:
    """A deterministic random minibatch of real images (see the module docstring for splits).

    Args:
        dataset: ``cifar10``, ``cifar100`` or ``imagenet16_120`` (surrogate; warns).
        batch_size: images drawn without replacement; at most the split's size.
        seed: fixes the draw.
        path: read this ``.npz`` instead of the split's file.

    Returns:
        ``(x, y)``: float32 (B, 3, H, W) normalised tensor, int64 (B,) labels.
    """
    images, labels = load_arrays(dataset, split, root, path)
    n = len(images)
    if not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be in 1..{n} for {dataset} split "
                         f"{split or next(iter(FILES[_key(dataset)]))}, got {batch_size}")
    if is_surrogate(dataset):
        warnings.warn("ImageNet16-120 batch is a SURROGATE (one real ImageNet photo per class, "
                      "box-downsampled to 16x16), not the benchmark's images", SurrogateDataWarning,
                      stacklevel=2)
    idx = np.sort(np.random.default_rng(seed).choice(n, size=batch_size, replace=False))
    return normalise(images[idx], dataset), torch.from_numpy(labels[idx].copy())


def gaussian_batch(shape: Sequence[int], seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Standard-normal inputs of ``shape`` from a private ``torch.Generator`` (global RNG untouched)."""
    g = torch.Generator().manual_seed(int(seed))
    return torch.randn(tuple(shape), generator=g, dtype=dtype)


def random_labels(n: int, num_classes: int, seed: int = 0) -> torch.Tensor:
    """``n`` uniform int64 labels in ``[0, num_classes)`` from a private generator."""
    g = torch.Generator().manual_seed(int(seed))
    return torch.randint(0, num_classes, (n,), generator=g)


def default_split(dataset: str, batch_size: int) -> str:
    """The image split the proxy minibatches of ``dataset`` are drawn from: CIFAR-10 ``train``,
    CIFAR-100 ``eranhead`` up to 100 images (``fine0-9`` above), ImageNet16-120 ``surrogate``."""
    ds = _key(dataset)
    if ds == "cifar10":
        return "train"
    if ds == "cifar100":
        return "eranhead" if batch_size <= 100 else "fine0-9"
    return "surrogate"


def make_batch(dataset: str, batch_size: int, seed: int = 0, input_kind: str = "real",
               split: Optional[str] = None, root=None):
    """``(x, y)`` for ``dataset``: real images (surrogate for ImageNet16-120) or Gaussian noise.

    Raises:
        ValueError: for an unknown ``input_kind``.
    """
    if input_kind == "real":
        return load_minibatch(dataset, batch_size, seed=seed,
                                     split=split or default_split(dataset, batch_size), root=root)
    if input_kind == "gaussian":
        ds = _key(dataset)
        hw = 16 if ds == "imagenet16_120" else 32
        return (gaussian_batch((batch_size, 3, hw, hw), seed=seed),
                random_labels(batch_size, NUM_CLASSES[ds], seed=seed))
    raise ValueError(f"input_kind must be 'real' or 'gaussian', got {input_kind!r}")


def has_images(dataset: str, batch_size: int, root=None) -> bool:
    """Whether the image file :func:`make_batch` would read for ``dataset`` exists."""
    ds = _key(dataset)
    rel = FILES[ds][default_split(ds, batch_size)]
    return (Path(root if root is not None else data_root()) / rel).is_file()
