"""The segmentation datasets every notebook and job takes through one ``data`` parameter.

Usage (notebooks 03 and 04, :mod:`nascore.experiments.search_hybrid`, benchmark jobs)::

    from nascore.seg.datasets import load_dataset
    records, info = load_dataset("auto", resolution=64)   # or "lgg", "msd_brain", "synthetic",
                                                           # or the path of a prepared folder
    in_channels = info["channels"]                         # = records[0]["image"].shape[0]

``data`` is one of

* a registered name (:data:`DATASETS`):

  * ``lgg_full`` (``$NASCORE_DATA/seg/lgg_kaggle3m_full128``): the whole kaggle_3m LGG FLAIR
    MRI of Buda et al., 3,929 slices of 110 patients, 3 channels, stored at 128 px;
  * ``lgg`` (``$NASCORE_DATA/seg/lgg_mri_kaggle3m``): the older 868-slice subset of the same
    110 patients, stored at 256 px, which the committed runs up to now used;
  * ``msd_brain`` (a folder prepared by ``python -m data_prep msd_brain --out
    $NASCORE_DATA/seg/msd_brain``);
  * ``synthetic`` (seeded phantoms, always available, labelled SYNTHETIC);
* ``"auto"``: the first available of :func:`auto_order` (``lgg_full``, ``lgg``,
  ``msd_brain``, ``synthetic``: each dataset's ``auto`` rank);
* a folder path: a folder prepared by ``python -m data_prep ...`` (or any folder with a
  ``manifest.csv`` naming ids and groups, as ``lgg_mri_kaggle3m``). A relative path is looked up
  from the current folder, then the repository root, then ``$NASCORE_DATA``.

Every loader returns the same records (:mod:`data_prep.records`: ``image`` float32
``(C, H, W)``, ``mask`` uint8 ``(1, H, W)``, ``id``, ``group``, ``has_tumor``). The number of
input channels is the data's. A new dataset is one loader function plus one
:func:`register_dataset` call (give it an ``auto`` rank to have ``"auto"`` try it).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from data_prep import SYNTHETIC_LABEL, load_folder, load_prepared, make_synthetic, prepared_info
from data_prep.records import MANIFEST_COLUMNS

from ..paths import data_root, repo_root
from ..registry import Registry

LGG_FULL_DIR = ("seg", "lgg_kaggle3m_full128")
LGG_DIR = ("seg", "lgg_mri_kaggle3m")
MSD_DIR = ("seg", "msd_brain")
LGG_FULL_LABEL = "LGG FLAIR MRI, the whole kaggle_3m set (Buda et al.)"
LGG_LABEL = "LGG FLAIR MRI, an 868-slice subset of kaggle_3m (Buda et al.)"
MSD_LABEL = "MSD Task01 BrainTumour (BraTS 2016/17), whole-tumour masks"


@dataclass(frozen=True)
class SegDataset:
    """A registered segmentation dataset.

    Attributes:
        name: registry name (also the cache/history tag of the data).
        label: what reports print about the data.
        path: ``() -> Path | None``, where the data live (None: generated).
        load: ``(path, resolution, channels, cache_dir, synthetic) -> records``.
        synthetic: whether the data are synthetic (reports must say so).
        dataset: the name recorded in results (e.g. the folder name).
        auto: the rank at which ``data="auto"`` tries it (lowest first); None: never tried.
        stored_resolution: the side in pixels the files are stored at (None: not fixed).
    """

    name: str
    label: str
    path: Callable[[], Optional[Path]]
    load: Callable[..., List[dict]]
    synthetic: bool = False
    dataset: str = ""
    auto: Optional[float] = None
    stored_resolution: Optional[int] = None

    def available(self) -> bool:
        """Whether the data are there (a generated dataset always is)."""
        p = self.path()
        return p is None or (p / "manifest.csv").is_file() or (p / "images").is_dir()


DATASETS: Registry[SegDataset] = Registry("dataset")


def register_dataset(ds: SegDataset) -> SegDataset:
    """Adds ``ds`` to :data:`DATASETS` (raises ValueError on a duplicate name)."""
    return DATASETS.register(ds.name, ds)


def auto_order() -> List[str]:
    """The names ``data="auto"`` tries, in order: every registered dataset with an ``auto``
    rank, lowest rank first (registration order breaks ties)."""
    names = DATASETS.names()
    ranked = [(DATASETS.get(n).auto, i, n) for i, n in enumerate(names)]
    return [n for rank, _, n in sorted(r for r in ranked if r[0] is not None)]


def _select(records: List[dict], channels: Optional[Sequence[int]], where: str) -> List[dict]:
    if channels is None:
        return records
    idx = [int(c) for c in channels]
    for r in records:
        n = r["image"].shape[0]
        if any(not -n <= c < n for c in idx):
            raise ValueError(f"{where}: channel(s) {idx} out of range for {n} channels "
                             f"(record {r['id']!r})")
        r["image"] = r["image"][idx]
    return records


def _has_group_column(path: Path) -> bool:
    man = path / "manifest.csv"
    if not man.is_file():
        return False
    with open(man, newline="") as f:
        header = f.readline().strip().split(",")
    return "patient" in header or "group" in header


def _load_folder_like(path: Path, resolution, channels, cache_dir, synthetic, default_groups=None):
    """A prepared folder (manifest with ``id, group, image, mask``) or a folder dataset."""
    man = path / "manifest.csv"
    if man.is_file():
        with open(man, newline="") as f:
            header = f.readline().strip().split(",")
        if set(MANIFEST_COLUMNS[:2] + MANIFEST_COLUMNS[4:6]) <= set(header):
            return _select(load_prepared(path, resolution=resolution), channels, str(path))
    groups = None if _has_group_column(path) else default_groups
    return load_folder(path, resolution=resolution, channels=channels, cache_dir=cache_dir,
                       groups=groups)


def _lgg(path, resolution, channels, cache_dir, synthetic):
    # the registered LGG rule groups slices by patient when a copy has no manifest column
    return _load_folder_like(path, resolution, channels, cache_dir, synthetic, default_groups="lgg")


def _synthetic(path, resolution, channels, cache_dir, synthetic):
    opts = {"n_patients": 12, "slices_per_patient": 8, "channels": 3, "seed": 0,
            **dict(synthetic or {})}
    recs = make_synthetic(size=int(resolution or 128), **opts)
    return _select(recs, channels, "synthetic")


def _synthetic_label() -> str:
    return SYNTHETIC_LABEL


register_dataset(SegDataset("lgg_full", LGG_FULL_LABEL,
                            lambda: data_root().joinpath(*LGG_FULL_DIR), _lgg,
                            dataset="lgg_kaggle3m_full128", auto=0, stored_resolution=128))
register_dataset(SegDataset("lgg", LGG_LABEL, lambda: data_root().joinpath(*LGG_DIR), _lgg,
                            dataset="lgg_mri_kaggle3m", auto=1, stored_resolution=256))
register_dataset(SegDataset("msd_brain", MSD_LABEL, lambda: data_root().joinpath(*MSD_DIR),
                            _load_folder_like, dataset="msd_brain", auto=2))
register_dataset(SegDataset("synthetic", _synthetic_label(), lambda: None, _synthetic,
                            synthetic=True, dataset="synthetic", auto=99))


def _display_path(p: Optional[Path]) -> Optional[str]:
    """Repo-relative, ``$NASCORE_DATA/...`` or absolute (results record no home paths when
    they can avoid it)."""
    if p is None:
        return None
    p = Path(p).resolve()
    for base, shown in ((data_root(), "$NASCORE_DATA"), (repo_root(), None)):
        try:
            rel = p.relative_to(base).as_posix()
            return f"{shown}/{rel}" if shown else rel
        except ValueError:
            continue
    return str(p)


def _find_path(data: str) -> Optional[Path]:
    p = Path(os.path.expanduser(data))
    cands = [p] if p.is_absolute() else [Path.cwd() / p, repo_root() / p, data_root() / p]
    return next((c.resolve() for c in cands if c.is_dir()), None)


def folder_dataset(path: os.PathLike) -> SegDataset:
    """An unregistered :class:`SegDataset` for a prepared folder at ``path``."""
    path = Path(path).resolve()

    meta = prepared_info(path)
    synthetic = bool(meta.get("synthetic"))
    label = meta.get("label") or f"folder {path.name}"
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", path.name)
    tag = f"{slug}-{hashlib.sha1(str(path).encode()).hexdigest()[:6]}"
    return SegDataset(tag, label, lambda: path, _load_folder_like, synthetic=synthetic,
                      dataset=path.name)


def resolve(data: str = "auto") -> Tuple[SegDataset, str]:
    """The dataset ``data`` names and why it was chosen.

    Raises:
        FileNotFoundError: a registered dataset that is not available, or a path that is not a
            folder (listing the names and the places looked at).
    """
    data = str(data)
    if data == "auto":
        skipped = []
        for name in auto_order():
            ds = DATASETS.get(name)
            if ds.available():
                why = "auto" + (f": {'; '.join(skipped)}" if skipped else "")
                return ds, why
            skipped.append(f"{name} not found at {_display_path(ds.path())}")
        raise FileNotFoundError("no dataset available: " + "; ".join(skipped))
    if data in DATASETS:
        ds = DATASETS.get(data)
        if not ds.available():
            raise FileNotFoundError(f"dataset {data!r} not found at {ds.path()} (set NASCORE_DATA, "
                                    "prepare it with python -m data_prep, or use data='synthetic')")
        return ds, "requested"
    path = _find_path(data)
    if path is None:
        places = ", ".join(dict.fromkeys(str(d) for d in (Path.cwd(), repo_root(), data_root())))
        raise FileNotFoundError(
            f"data={data!r} is neither a dataset name ({', '.join(['auto', *DATASETS.names()])}) "
            f"nor a folder (looked in {places}); prepare "
            "one with: python -m data_prep folder --src YOUR_DATA --out FOLDER")
    if not (path / "manifest.csv").is_file():
        raise FileNotFoundError(f"{path} has no manifest.csv: it is not a prepared folder; prepare "
                                f"it with: python -m data_prep folder --src {path} --out FOLDER")
    return folder_dataset(path), "requested"


def available() -> Dict[str, bool]:
    """Registered dataset name -> whether its data are there."""
    return {n: DATASETS.get(n).available() for n in DATASETS}


def load_dataset(data: str = "auto", resolution: Optional[int] = None,
                 channels: Optional[Sequence[int]] = None, cache_dir: Optional[os.PathLike] = None,
                 synthetic: Optional[Mapping[str, Any]] = None) -> Tuple[List[dict], Dict[str, Any]]:
    """Records of the dataset ``data`` names (see the module docstring) and a description.

    Args:
        data: ``"auto"``, a registered name or a prepared folder's path.
        resolution: resize every record to this side (bilinear image, nearest mask); ``None``
            keeps the stored size (synthetic phantoms are then 128 px).
        channels: channel indices to keep (e.g. ``[1]``: LGG FLAIR only); ``None``: all.
        cache_dir: cache of the resized arrays for folder datasets (``.npz``).
        synthetic: options of :func:`data_prep.make_synthetic` for the synthetic dataset
            (``n_patients``, ``slices_per_patient``, ``channels`` (1 or 3, default 3),
            ``seed``); ignored by the other datasets.

    Returns:
        ``(records, info)``; ``info`` holds ``name`` (registry name or folder tag, used in
        cache and history names), ``dataset``, ``label``, ``synthetic``, ``path`` (repo- or
        ``$NASCORE_DATA``-relative), ``why``, ``n_records``, ``n_patients`` (groups),
        ``n_tumour``, ``channels`` (the model's input channels), ``resolution`` (the side the
        records were resized to, None: as stored), ``stored_resolution`` (the files' side,
        None when not fixed) and ``description`` (all of that in one line, for reports).

    Raises:
        FileNotFoundError: see :func:`resolve`.
        ValueError: an empty dataset, records with different channel counts, or a channel
            index out of range (naming the dataset).
    """
    ds, why = resolve(data)
    path = ds.path()
    recs = ds.load(path, resolution, channels, cache_dir, synthetic)
    if not recs:
        raise ValueError(f"dataset {data!r} ({_display_path(path)}) has no records")
    chans = {int(r["image"].shape[0]) for r in recs}
    if len(chans) != 1:
        raise ValueError(f"dataset {data!r} ({_display_path(path)}) mixes images with "
                         f"{sorted(chans)} channels; prepare it with --grayscale or --channels")
    info = {"name": ds.name, "dataset": ds.dataset or ds.name, "label": ds.label,
            "synthetic": ds.synthetic or any(r.get("synthetic", False) for r in recs),
            "path": _display_path(path), "why": why, "n_records": len(recs),
            "n_patients": len({r["group"] for r in recs}),
            "n_tumour": int(sum(bool(r["has_tumor"]) for r in recs)),
            "channels": chans.pop(), "resolution": resolution,
            "stored_resolution": ds.stored_resolution}
    info["description"] = describe(info)
    return recs, info


def describe(info: Mapping[str, Any]) -> str:
    """One line naming a loaded dataset, its size and its resolution as they are, e.g.
    ``lgg_kaggle3m_full128: 3929 slices from 110 patients (1372 with tumour), stored at 128 px,
    used at 64 px``."""
    sides = []
    if info.get("stored_resolution"):
        sides.append(f"stored at {info['stored_resolution']} px")
    sides.append(f"used at {info['resolution']} px" if info.get("resolution") else "used as stored")
    synth = " (SYNTHETIC)" if info.get("synthetic") else ""
    return (f"{info['dataset']}{synth}: {info['n_records']} slices from {info['n_patients']} "
            f"patients ({info['n_tumour']} with tumour), " + ", ".join(sides))
