"""DARTS-style NB201 supernet: mixed operation, search cell, derivation, first-order training."""

import numpy as np
import pytest
import torch

from nascore.bench._nb201_torch import InferCell
from nascore.bench.nb201 import EDGES, OPS, parse_arch_str
from nascore.bench.nb201_supernet import (DartsConfig, MixedOp, NB201Supernet, SearchCell, derive,
                                          inherited_accuracy, one_hot, train_darts)

ARCH = "|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|nor_conv_1x1~1|skip_connect~2|"


def test_mixed_op_is_the_weighted_sum_of_the_five_ops():
    torch.manual_seed(0)
    m = MixedOp(3).train()
    x = torch.randn(2, 3, 8, 8)
    w = torch.softmax(torch.randn(5), 0)
    expect = sum(wi * op(x) for wi, op in zip(w, m.ops))
    torch.testing.assert_close(m(x, w), expect)


@pytest.mark.parametrize("k", range(len(OPS)))
def test_mixed_op_one_hot_runs_only_the_chosen_op(k):
    torch.manual_seed(0)
    m = MixedOp(3).train()
    calls = []
    for i, op in enumerate(m.ops):
        op.register_forward_hook(lambda mod, inp, out, i=i: calls.append(i))
    x = torch.randn(2, 3, 8, 8)
    w = torch.zeros(5)
    w[k] = 1.0
    torch.testing.assert_close(m(x, w), m.ops[k](x))
    assert calls[0] == k and set(calls) == {k}  # the reference call above adds k again


def test_mixed_op_rejects_wrong_weights():
    with pytest.raises(ValueError, match="shape"):
        MixedOp(3)(torch.randn(1, 3, 4, 4), torch.ones(4))


def test_search_cell_with_one_hot_weights_equals_the_stand_alone_cell():
    torch.manual_seed(0)
    cell = SearchCell(4).train()
    ops = parse_arch_str(ARCH)
    ref = InferCell(ops, 4, EDGES).train()
    for e, o in enumerate(ops):  # copy the chosen op's shared weights into the stand-alone cell
        ref.edges[e].load_state_dict(cell.edges[e].ops[OPS.index(o)].state_dict(), strict=False)
    x = torch.randn(3, 4, 8, 8)
    torch.testing.assert_close(cell(x, one_hot(ARCH)), ref(x))


def test_derive_takes_the_argmax_per_edge_including_none():
    a = np.zeros((6, 5))
    for e, o in enumerate(parse_arch_str(ARCH)):
        a[e, OPS.index(o)] = 1.0
    assert derive(a) == ARCH
    assert derive(torch.tensor(a)) == ARCH
    assert derive(np.zeros((6, 5))) == "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"  # ties: first op
    with pytest.raises(ValueError, match="shape"):
        derive(np.zeros((5, 5)))


def test_one_hot_round_trips_through_derive():
    assert derive(one_hot(ARCH)) == ARCH


def test_supernet_forward_shapes_and_weight_parameters():
    net = NB201Supernet(num_classes=3, C=2, N=1)
    assert net(torch.randn(2, 3, 8, 8)).shape == (2, 3)
    assert net(torch.randn(2, 3, 8, 8), one_hot(ARCH)).shape == (2, 3)
    assert all(p is not net.alpha for p in net.weight_parameters())
    assert len(net.weight_parameters()) == len(list(net.parameters())) - 1


def _toy_data(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, 3, 8, 8, generator=g) + y.view(-1, 1, 1, 1).float()
    return x, y


def test_train_darts_updates_alpha_records_each_epoch_and_is_seeded():
    x, y = _toy_data()
    cfg = DartsConfig(C=2, N=1, epochs=2, batch_size=8, augment=False)
    r = train_darts(x[:16], y[:16], x[16:], y[16:], cfg, seed=1, num_classes=2)
    assert len(r.derived) == len(r.alpha) == len(r.train_loss) == 2
    assert all(parse_arch_str(s) for s in r.derived)
    with torch.random.fork_rng():
        torch.manual_seed(1)
        init = NB201Supernet(2, 2, 1).alpha.detach()
    assert not torch.allclose(r.net.alpha.detach(), init)  # the architecture step moved alpha
    r2 = train_darts(x[:16], y[:16], x[16:], y[16:], cfg, seed=1, num_classes=2)
    assert r2.derived == r.derived
    torch.testing.assert_close(r2.net.alpha, r.net.alpha)
    acc = inherited_accuracy(r.net, r.derived[-1], x, y)
    assert 0.0 <= acc <= 100.0


def test_train_darts_rejects_a_split_smaller_than_the_batch():
    x, y = _toy_data(8)
    with pytest.raises(ValueError, match="validation split has 2 images"):
        train_darts(x[:6], y[:6], x[6:], y[6:], DartsConfig(C=2, N=1, epochs=1, batch_size=4))
