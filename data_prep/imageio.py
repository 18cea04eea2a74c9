"""Reading, binarising and resizing image/mask files (PIL formats and ``.npy``).

Every error names the offending file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence, Tuple, Union

import numpy as np

IMAGE_EXTS = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp", ".gif", ".npy")
Resolution = Union[int, Tuple[int, int], Sequence[int]]


def as_hw(resolution: Optional[Resolution]) -> Optional[Tuple[int, int]]:
    """``128 -> (128, 128)``; ``(h, w)`` unchanged; ``None`` stays ``None``."""
    if resolution is None:
        return None
    if isinstance(resolution, (int, np.integer)):
        hw = (int(resolution), int(resolution))
    else:
        hw = tuple(int(v) for v in resolution)
    if len(hw) != 2 or min(hw) < 1:
        raise ValueError(f"resolution must be a positive int or (H, W), got {resolution!r}")
    return hw  # type: ignore[return-value]


def _read_array(path: Path, palette: str = "RGB") -> np.ndarray:
    """The file's pixels in their native dtype: ``(H, W)`` or ``(H, W, C)``.

    Palette (``P``/``PA`` mode, e.g. GIF) files are expanded through their palette to
    ``palette`` mode (``"RGB"`` for images, ``"L"`` for masks), never kept as palette indices.
    A multi-frame file (GIF, TIFF) gives its first frame.
    """
    if not path.is_file():
        raise FileNotFoundError(f"file not found: {path}")
    if path.stat().st_size == 0:
        raise ValueError(f"unreadable file {path}: empty file (0 bytes)")
    try:
        if path.suffix.lower() == ".npy":
            arr = np.load(path, allow_pickle=False)
        else:
            from PIL import Image

            with Image.open(path) as im:
                im.load()
                if im.mode in ("P", "PA"):
                    im = im.convert(palette)
                elif im.mode in ("RGBA", "CMYK", "YCbCr", "LAB", "HSV"):
                    im = im.convert("RGB")
                elif im.mode in ("LA", "1"):
                    im = im.convert("L")
                arr = np.array(im)
    except (OSError, EOFError, ValueError, SyntaxError) as e:  # UnidentifiedImageError: OSError
        raise ValueError(f"unreadable file {path}: {type(e).__name__}: {e}") from None
    if arr.ndim not in (2, 3) or arr.size == 0:
        raise ValueError(f"{path}: expected a 2D or 3D array, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{path}: non-numeric dtype {arr.dtype}")
    return arr


def read_image_raw(path: os.PathLike) -> np.ndarray:
    """An image as ``(C, H, W)`` in its native dtype.

    PIL images are ``(H, W[, C])``; ``.npy`` arrays may be ``(H, W)``, ``(C, H, W)`` or
    ``(H, W, C)`` (taken as channel-last when the first axis is > 4 and the last is <= 4).
    """
    path = Path(path)
    arr = _read_array(path)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if arr.ndim == 2:
        return arr[None]
    if path.suffix.lower() != ".npy" or (arr.shape[0] > 4 and arr.shape[-1] <= 4):
        arr = np.moveaxis(arr, -1, 0)
    return np.ascontiguousarray(arr)


def to_float(image: np.ndarray) -> np.ndarray:
    """float32 copy; integer images are divided by their dtype maximum (uint8 -> [0, 1])."""
    if np.issubdtype(image.dtype, np.integer):
        return image.astype(np.float32) / np.float32(np.iinfo(image.dtype).max)
    return image.astype(np.float32, copy=False)


def read_image(path: os.PathLike) -> np.ndarray:
    """An image as float32 ``(C, H, W)`` (see :func:`to_float`)."""
    return to_float(read_image_raw(path))


def read_mask(path: os.PathLike, threshold: Optional[float] = None) -> np.ndarray:
    """A mask as uint8 ``(1, H, W)`` with values in ``{0, 1}``.

    Without ``threshold`` the file must hold only ``{0, 1}`` or ``{0, 255}`` (or ``{0, max}`` of
    its integer dtype); with it, ``mask = value > threshold``. A multi-channel mask is accepted
    only if all its channels are equal.

    Raises:
        ValueError: naming the file, for a non-binary mask or differing channels.
    """
    path = Path(path)
    arr = _read_array(path, palette="L")
    if arr.ndim == 3:
        if path.suffix.lower() == ".npy" and arr.shape[0] <= 4 and arr.shape[-1] > 4:
            arr = np.moveaxis(arr, 0, -1)
        if not np.all(arr == arr[..., :1]):
            raise ValueError(f"mask {path} has {arr.shape[-1]} differing channels; "
                             "expected a single-channel mask")
        arr = arr[..., 0]
    if threshold is not None:
        return (arr > threshold).astype(np.uint8)[None]
    if arr.dtype == bool:
        return arr.astype(np.uint8)[None]
    vals = np.unique(arr)
    allowed = [{0, 1}, {0, 255}]
    if np.issubdtype(arr.dtype, np.integer):
        allowed.append({0, int(np.iinfo(arr.dtype).max)})
    present = {v.item() for v in vals}
    if not any(present <= a for a in allowed):
        shown = ", ".join(str(v) for v in vals[:8]) + (" ..." if len(vals) > 8 else "")
        raise ValueError(f"mask {path} is not binary (values {shown}); "
                         "pass mask_threshold to binarise it")
    return (arr > 0).astype(np.uint8)[None]


def resize_image(image: np.ndarray, hw: Tuple[int, int]) -> np.ndarray:
    """Bilinear resize of ``(C, H, W)``; integer images are rounded back to their dtype."""
    if image.shape[1:] == tuple(hw):
        return image
    from PIL import Image

    out = np.empty((image.shape[0], *hw), dtype=np.float32)
    for c in range(image.shape[0]):
        ch = Image.fromarray(np.ascontiguousarray(image[c], dtype=np.float32))
        out[c] = np.asarray(ch.resize((hw[1], hw[0]), Image.BILINEAR))
    if np.issubdtype(image.dtype, np.integer):
        info = np.iinfo(image.dtype)
        return np.clip(np.round(out), info.min, info.max).astype(image.dtype)
    return out.astype(image.dtype, copy=False)


def resize_mask(mask: np.ndarray, hw: Tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a ``(1, H, W)`` uint8 mask."""
    if mask.shape[1:] == tuple(hw):
        return mask
    from PIL import Image

    m = Image.fromarray(np.ascontiguousarray(mask[0], dtype=np.uint8))
    return np.asarray(m.resize((hw[1], hw[0]), Image.NEAREST), dtype=np.uint8)[None]
