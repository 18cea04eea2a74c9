"""Real-image minibatches and synthetic batches."""

import warnings

import numpy as np
import pytest
import torch

from nascore.bench import images as I
from nascore.paths import has_data


def _need(ds):
    if not has_data("images", ds if ds != "imagenet16_120" else "imagenet16_120_surrogate"):
        pytest.skip(f"needs ../shared/data/images/{ds}: set NASCORE_DATA")


@pytest.mark.parametrize("ds, res", [("cifar10", 32), ("cifar100", 32)])
def test_minibatch_shape_norm_and_determinism(ds, res):
    _need(ds)
    x, y = I.load_minibatch(ds, 64, seed=3)
    assert x.shape == (64, 3, res, res) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert abs(float(x.mean())) < 0.3 and 0.7 < float(x.std()) < 1.3  # NB201 normalisation
    x2, y2 = I.load_minibatch(ds, 64, seed=3)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(x, I.load_minibatch(ds, 64, seed=4)[0])


def test_cifar_labels_and_pixels():
    _need("cifar10")
    imgs, labels = I.load_arrays("cifar10")
    assert imgs.shape == (1000, 32, 32, 3) and np.bincount(labels).tolist() == [100] * 10
    x = I.normalise(imgs[:1], "cifar10")
    mean, std = I.MEAN_STD["cifar10"]
    assert float(x[0, 1, 5, 7]) == pytest.approx((imgs[0, 5, 7, 1] / 255 - mean[1]) / std[1], abs=1e-5)
    _, y = I.load_minibatch("cifar100", 200, seed=0)
    assert y.max() <= 9  # the default CIFAR-100 sample covers fine classes 0-9 only
    _, y = I.load_minibatch("cifar10", 16, split="test")
    assert y.shape == (16,)


def test_imagenet16_surrogate_warns():
    _need("imagenet16_120")
    assert I.is_surrogate("imagenet16_120") and not I.is_surrogate("cifar10")
    with pytest.warns(I.SurrogateDataWarning, match="SURROGATE"):
        x, y = I.load_minibatch("imagenet16_120", 32, seed=0)
    assert x.shape == (32, 3, 16, 16) and int(y.max()) < 120


def test_bad_requests(tmp_path):
    with pytest.raises(ValueError, match="split"):
        I.load_minibatch("cifar10", 4, split="valid")
    with pytest.raises(ValueError, match="dataset"):
        I.load_minibatch("mnist", 4)
    with pytest.raises(FileNotFoundError, match="NASCORE_DATA"):
        I.load_minibatch("cifar10", 4, root=tmp_path)
    p = tmp_path / "bad.npz"
    np.savez(p, images=np.zeros((4, 32, 32, 3), np.uint8), labels=np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="bad.npz"):
        I.load_minibatch("cifar10", 2, path=p)
    q = tmp_path / "ok.npz"
    np.savez(q, images=np.zeros((4, 32, 32, 3), np.uint8), labels=np.arange(4))
    with pytest.raises(ValueError, match="batch_size"):
        I.load_minibatch("cifar10", 5, path=q)


def test_gaussian_batch_private_rng():
    state = torch.get_rng_state()
    a = I.gaussian_batch((2, 3, 8, 8), seed=1)
    assert torch.equal(state, torch.get_rng_state())
    assert torch.equal(a, I.gaussian_batch((2, 3, 8, 8), seed=1))
    assert not torch.equal(a, I.gaussian_batch((2, 3, 8, 8), seed=2))
    y = I.random_labels(100, 10, seed=0)
    assert y.dtype == torch.int64 and 0 <= int(y.min()) and int(y.max()) < 10
