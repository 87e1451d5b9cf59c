"""The fixed-point SGD update against a Python-int reference; float updates and schedules."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import round_fraction

from fxsim import FxArray, QFormat
from fxsim.layers.base import Param
from fxsim.policy import RoleSpec
from fxsim.training.optim import SGD, Schedule


def clamp(v: int, bits: int) -> int:
    return max(-(1 << (bits - 1)), min((1 << (bits - 1)) - 1, v))


@settings(max_examples=60, deadline=None)
@given(
    st.integers(8, 32), st.integers(0, 24), st.integers(4, 24),
    st.sampled_from(["nearest_even", "floor", "toward_zero"]),
    st.floats(0.0, 0.99), st.floats(0.0, 0.01), st.floats(1e-4, 0.5),
    st.integers(2, 16), st.integers(-4, 30), st.data(),
)
def test_fixed_point_update_matches_python_ints(bits, frac, const_frac, rounding, momentum,
                                                decay, lr, gbits, gfrac, data):
    if bits + const_frac > 60:
        return
    n = 5
    ints = st.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
    w = data.draw(st.lists(ints, min_size=n, max_size=n))
    v = data.draw(st.lists(ints, min_size=n, max_size=n))
    g = data.draw(st.lists(st.integers(-(1 << (gbits - 1)), (1 << (gbits - 1)) - 1),
                           min_size=n, max_size=n))
    fmt = QFormat(bits, frac)
    spec = RoleSpec("master", bits=bits, frac=frac, rounding=rounding, const_frac=const_frac)
    p = Param("l.weight", FxArray(np.array(w, dtype=np.int64), fmt), spec=spec)
    p.velocity = FxArray(np.array(v, dtype=np.int64), fmt)
    p.grad = FxArray(np.array(g, dtype=np.int64), QFormat(gbits, gfrac))
    SGD([p], momentum=momentum, weight_decay=decay).step(lr, seed=1, step=0)

    def const(x):
        return round_fraction(Fraction(x) * 2**const_frac, "nearest_even")

    big = 1 << (bits + const_frac - 1)
    for i in range(n):
        g_at = Fraction(g[i]) * Fraction(2) ** (frac + const_frac - gfrac)
        g_int = max(-(big - 1), min(big - 1, round_fraction(g_at, rounding)))
        v_acc = const(momentum) * v[i] + g_int + const(decay) * w[i]
        v_new = clamp(round_fraction(Fraction(v_acc, 1 << const_frac), rounding), bits)
        w_acc = (w[i] << const_frac) - const(lr) * v_new
        w_new = clamp(round_fraction(Fraction(w_acc, 1 << const_frac), rounding), bits)
        assert int(p.velocity.raw[i]) == v_new
        assert int(p.master.raw[i]) == w_new
    assert p.grad is None


def test_float_update_is_pytorch_sgd():
    p = Param("bn.gamma", np.array([1.0, 2.0]), kind="float")
    p.velocity = np.array([0.5, -0.5])
    p.grad = np.array([0.1, 0.2])
    SGD([p], momentum=0.9, weight_decay=0.01).step(0.1, seed=0, step=0)
    v = 0.9 * np.array([0.5, -0.5]) + np.array([0.1, 0.2]) + 0.01 * np.array([1.0, 2.0])
    assert np.array_equal(p.velocity, v)
    assert np.array_equal(p.master, np.array([1.0, 2.0]) - 0.1 * v)


def test_stochastic_master_is_reproducible():
    spec = RoleSpec("master", bits=16, frac=12, rounding="stochastic")

    def run():
        p = Param("l.weight", FxArray(np.arange(-50, 50, dtype=np.int64), QFormat(16, 12)),
                  spec=spec)
        p.velocity = FxArray(np.zeros(100, dtype=np.int64), QFormat(16, 12))
        p.grad = FxArray(np.arange(100, dtype=np.int64) - 30, QFormat(8, 9))
        SGD([p]).step(0.0123, seed=5, step=7)
        return p.master.raw.copy()

    assert np.array_equal(run(), run())


def test_schedules():
    cos = Schedule(0.1, "cosine", epochs=2)
    assert cos.lr_at(0, 0, 10) == pytest.approx(0.1)
    assert cos.lr_at(1, 0, 10) == pytest.approx(0.05)
    step = Schedule(0.1, "step", epochs=10, milestones=(3, 6))
    assert [step.lr_at(e, 0, 5) for e in (0, 3, 6)] == pytest.approx([0.1, 0.01, 0.001])
    warm = Schedule(0.1, "constant", epochs=3, warmup_epochs=1)
    assert warm.lr_at(0, 0, 4) == pytest.approx(0.025) and warm.lr_at(1, 0, 4) == 0.1
    with pytest.raises(ValueError, match="schedule must be one of"):
        Schedule(0.1, "linear")
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        Schedule(float("nan"))
    with pytest.raises(ValueError, match="momentum must be a number in"):
        SGD([], momentum=1.5)


def test_every_stochastic_rounding_of_the_update_has_its_own_stream(monkeypatch):
    """Gradient, velocity and weight roundings of every parameter draw distinct streams, also
    distinct from every quantizer's (sites below OPTIMIZER_SITE_BASE)."""
    import fxsim.training.optim as optim

    seen = []

    def recording(q, fmt, *args, stream=0, **kwargs):
        seen.append(stream)
        return requantize(q, fmt, *args, stream=stream, **kwargs)

    from fxsim.numeric.convert import requantize
    monkeypatch.setattr(optim, "requantize", recording)
    fmt = QFormat(16, 8)
    spec = RoleSpec("master", bits=16, frac=8, rounding="stochastic", const_frac=8)
    params = []
    for i in range(4):
        p = Param(f"l{i}.weight", FxArray(np.arange(6, dtype=np.int64), fmt), spec=spec)
        p.velocity = FxArray(np.zeros(6, dtype=np.int64), fmt)
        p.grad = FxArray(np.arange(6, dtype=np.int64) - 3, QFormat(8, 20))  # finer: rounded
        params.append(p)
    SGD(params, momentum=0.9, weight_decay=1e-3).step(0.1, seed=1, step=5)
    assert len(seen) == 3 * len(params) and len(set(seen)) == len(seen)
    assert all((s >> 4) & ((1 << 20) - 1) >= optim.OPTIMIZER_SITE_BASE for s in seen)
