"""Every layer's float64-mode backward against central finite differences of its forward."""

from __future__ import annotations

import numpy as np
import pytest

from fxsim.layers import (
    AvgPool2d,
    BatchNorm2d,
    Binder,
    Context,
    Conv2d,
    Flatten,
    GlobalAvgPool2d,
    Linear,
    MaxPool2d,
    ReLU,
    Residual,
    Sequential,
    ShortcutA,
    softmax_cross_entropy,
)
from fxsim.policy import Policy

EPS = 1e-6


def bound(layer):
    layer.bind(Binder(Policy.load("fp"), seed=3))
    return layer


def objective(layer, x, g):
    """sum(forward(x) * g) in training mode (batch-norm statistics of this batch)."""
    out = layer.forward([x], Context(0, 0, True))[0]
    for inner in layer.walk():  # forget what forward kept for a backward that never comes
        inner.__dict__.pop("_saved", None)
    return float((out * g).sum())


def numeric(fn, array, coords):
    grads = []
    for c in coords:
        keep = array[c]
        array[c] = keep + EPS
        up = fn()
        array[c] = keep - EPS
        down = fn()
        array[c] = keep
        grads.append((up - down) / (2 * EPS))
    return np.array(grads)


def some_coords(shape, rng, count=12):
    flat = rng.choice(int(np.prod(shape)), size=min(count, int(np.prod(shape))), replace=False)
    return [np.unravel_index(i, shape) for i in flat]


def check(layer, x, rng):
    """Input and parameter gradients of a bound ``layer`` at ``x`` against finite
    differences of ``sum(forward(x) * g)`` for a random ``g``."""
    ctx = Context(0, 0, True)
    out = layer.forward([x], ctx)[0]
    g = rng.standard_normal(out.shape)
    gx = layer.backward([g], ctx)[0]
    coords = some_coords(x.shape, rng)
    np.testing.assert_allclose([gx[c] for c in coords],
                               numeric(lambda: objective(layer, x, g), x, coords),
                               rtol=1e-5, atol=1e-8)
    for p in [q for inner in layer.walk() for q in inner.params()]:
        coords = some_coords(p.master.shape, rng, 6)
        np.testing.assert_allclose([p.grad[c] for c in coords],
                                   numeric(lambda: objective(layer, x, g), p.master, coords),
                                   rtol=1e-5, atol=1e-8, err_msg=p.name)


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "dilation", "groups"),
    [(3, 1, 1, 1, 1), (3, 2, 1, 1, 1), (1, 1, 0, 1, 2), (3, 1, 2, 2, 4), (5, 2, 2, 1, 1)],
)
def test_conv2d(kernel, stride, padding, dilation, groups):
    rng = np.random.default_rng(0)
    layer = bound(Conv2d("c", 4, 8, kernel, stride, padding, dilation, groups))
    check(layer, rng.standard_normal((2, 4, 7, 6)), rng)


def test_linear():
    rng = np.random.default_rng(1)
    layer = bound(Linear("fc", 6, 3))
    layer.bias.master[:] = rng.standard_normal(3)
    check(layer, rng.standard_normal((5, 6)), rng)


@pytest.mark.parametrize("relu", [False, True])
def test_batchnorm(relu):
    rng = np.random.default_rng(2)
    layer = bound(BatchNorm2d("bn", 3, relu=relu))
    layer.gamma.master[:] = rng.standard_normal(3)
    layer.beta.master[:] = rng.standard_normal(3)
    check(layer, rng.standard_normal((4, 3, 3, 2)), rng)


@pytest.mark.parametrize(
    "layer",
    [ReLU("r"), MaxPool2d("m", 2), MaxPool2d("m", 3, 2, 1), AvgPool2d("a", 2),
     AvgPool2d("a", 3, 1, 1), GlobalAvgPool2d("g"), Flatten("f")],
    ids=["relu", "maxpool2", "maxpool3s2p1", "avgpool2", "avgpool3p1", "gap", "flatten"],
)
def test_parameter_free_layers(layer):
    rng = np.random.default_rng(3)
    check(bound(layer), rng.standard_normal((2, 3, 6, 6)), rng)


@pytest.mark.parametrize("downsample", [False, True])
def test_residual_block(downsample):
    rng = np.random.default_rng(4)
    cout, stride = (8, 2) if downsample else (4, 1)
    branch = Sequential("b", [Conv2d("b_c1", 4, cout, 3, stride, 1),
                              BatchNorm2d("b_bn1", cout, relu=True),
                              Conv2d("b_c2", cout, cout, 3, 1, 1), BatchNorm2d("b_bn2", cout)])
    shortcut = ShortcutA("b_sc", 4, cout, 2) if downsample else None
    check(bound(Residual("b", branch, shortcut)), rng.standard_normal((2, 4, 6, 6)), rng)


def test_softmax_cross_entropy_gradient():
    rng = np.random.default_rng(5)
    logits = rng.standard_normal((6, 4))
    labels = rng.integers(0, 4, 6)
    loss, pred, grads = softmax_cross_entropy([logits[:2], logits[2:]], [labels[:2], labels[2:]])
    grad = np.concatenate(grads)
    coords = some_coords(logits.shape, rng)
    expected = numeric(lambda: softmax_cross_entropy([logits], [labels])[0], logits, coords)
    np.testing.assert_allclose([grad[c] for c in coords], expected, rtol=1e-6, atol=1e-9)
    assert np.array_equal(pred, logits.argmax(axis=1))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert loss == pytest.approx(-np.log(p[np.arange(6), labels]).mean())
