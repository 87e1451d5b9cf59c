"""Requantization in the int8 correlations' output pass (fxsim.numeric.fused): the codes it
makes equal a Python-int reference and fxsim.requantize of the plain sums; requantize takes them
only for exactly their conversion; the training layers' hint changes no result."""

from __future__ import annotations

import numpy as np
import ops_cases
import pytest
import reference
from hypothesis import given, settings
from hypothesis import strategies as st

from fxsim import FxArray, QFormat, ops, requantize
from fxsim.layers import (
    BatchNorm2d,
    Context,
    Conv2d,
    Flatten,
    GlobalAvgPool2d,
    Linear,
    Sequential,
)
from fxsim.layers.mac import MacLayer
from fxsim.numeric import fused
from fxsim.numeric.fused import OutputRounding
from fxsim.ops import paths
from fxsim.policy import Policy
from fxsim.training.network import Network
from fxsim.training.optim import SGD

DETERMINISTIC = ["nearest_even", "nearest_away", "nearest_up", "toward_zero", "floor", "ceil"]


def operands(case, signed_x: bool, seed: int):
    rng = np.random.default_rng(seed)
    x_fmt, w_fmt = QFormat(8, 5, signed=signed_x), QFormat(8, 6)
    x = ops_cases.codes(x_fmt, case.input_shape, rng)
    w = ops_cases.codes(w_fmt, case.weight_shape, rng)
    return x, w


@settings(max_examples=40, deadline=None)
@given(case=ops_cases.conv_cases(), signed_x=st.booleans(), mode=st.sampled_from(DETERMINISTIC),
       target=ops_cases.small_formats(8), clip=st.booleans(), backward=st.booleans())
def test_output_pass_codes_equal_the_reference_and_requantize(case, signed_x, mode, target,
                                                              clip, backward):
    x, w = operands(case, signed_x, case.seed)
    low, high = (target.min_code + 1, target.max_code - 1) if clip and target.bits > 2 else (
        target.min_code, target.max_code)
    bounds = (low, high) if (low, high) != (target.min_code, target.max_code) else None
    hint = OutputRounding(target, mode, bounds)
    if backward:
        rng = np.random.default_rng(case.seed + 1)
        g = ops_cases.codes(QFormat(8, 4), case.output_shape, rng)
        args = (g, w, case.input_shape)
        run = ops.conv2d_backward_input
    else:
        args = (x, w)
        run = ops.conv2d
    y = run(*args, path="int8", output_rounding=hint, **case.kwargs)
    plain = run(*args, path="int8", **case.kwargs)
    assert np.array_equal(y.raw, plain.raw)
    shift = y.fmt.frac - target.frac
    if shift < 1:  # no right shift: no output pass
        assert y.stats.rounded is None
        return
    ahead = y.stats.rounded
    assert ahead is not None and ahead.shift == shift
    got = requantize(y, target, mode, clip=bounds)
    assert got.raw is ahead.codes  # taken, not converted again
    want = requantize(FxArray(plain.raw, plain.fmt), target, mode, clip=bounds)
    assert got.raw.dtype == want.raw.dtype and np.array_equal(got.raw, want.raw)
    assert got.stats == want.stats
    # a Python-int reference of the rounding and the saturation
    codes, events = reference.ref_requantize(plain.raw.reshape(-1).tolist(), plain.fmt,
                                             QFormat(62, target.frac), mode)
    clamped = np.clip(np.array(codes, dtype=object), low, high)
    assert got.raw.reshape(-1).tolist() == clamped.tolist()
    assert got.stats.saturated == sum(1 for c in codes if not low <= c <= high)
    assert events == 0


@pytest.mark.parametrize("other", [
    {"fmt": QFormat(8, 1)},  # another shift
    {"clip": (-100, 100)},  # other bounds
    {"rounding": "toward_zero"},  # another mode
    {"rounding": "stochastic", "seed": 3},  # random numbers
    {"fmt": QFormat(8, 0, signed=False)},  # another format, same shift
    {"step": 0.5},  # a multiplier, not a shift
    {"force_exact": True},
])
def test_requantize_converts_again_unless_asked_for_exactly_that_conversion(other):
    rng = np.random.default_rng(7)
    x = FxArray(rng.integers(-128, 128, (2, 3, 7, 6)).astype(np.int8), QFormat(8, 5))
    w = FxArray(rng.integers(-128, 128, (4, 3, 3, 3)).astype(np.int8), QFormat(8, 6))
    y = ops.conv2d(x, w, padding=1, path="int8", output_rounding=OutputRounding(QFormat(8, 0)))
    assert y.stats.rounded is not None
    options = {"fmt": QFormat(8, 0), "rounding": "nearest_even", **other}
    fmt = options.pop("fmt")
    got = requantize(y, fmt, **options)
    want = requantize(FxArray(y.raw, y.fmt), fmt, **options)
    assert got.raw is not y.stats.rounded.codes
    assert np.array_equal(got.raw, want.raw) and got.stats == want.stats


def test_the_codes_are_taken_once_and_only_for_their_own_sums():
    """The sums come back read-only; a second requantize, or one of other sums carrying the
    same stats, converts as usual: the codes handed out are nobody else's array."""
    rng = np.random.default_rng(9)
    x = FxArray(rng.integers(-128, 128, (2, 3, 6, 6)).astype(np.int8), QFormat(8, 5))
    w = FxArray(rng.integers(-128, 128, (4, 3, 3, 3)).astype(np.int8), QFormat(8, 6))
    fmt = QFormat(8, 2)
    y = ops.conv2d(x, w, padding=1, path="int8", output_rounding=OutputRounding(fmt))
    with pytest.raises(ValueError, match="read-only"):
        y.raw[0, 0, 0, 0] = 0
    edited = y.raw.copy()
    edited[0, 0, 0, 0] += 1 << 10
    carried = FxArray(edited, y.fmt, stats=y.stats)  # other sums, the same stats
    want = requantize(FxArray(edited, y.fmt), fmt)
    got = requantize(carried, fmt)
    assert got.raw is not y.stats.rounded.codes and np.array_equal(got.raw, want.raw)
    first, second = requantize(y, fmt), requantize(y, fmt)
    assert first.raw is y.stats.rounded.codes and second.raw is not first.raw
    assert np.array_equal(first.raw, second.raw) and first.stats == second.stats


def test_no_output_pass_where_it_cannot_apply():
    rng = np.random.default_rng(8)
    x = FxArray(rng.integers(-128, 128, (2, 3, 5, 5)).astype(np.int8), QFormat(8, 5))
    w = FxArray(rng.integers(-128, 128, (4, 3, 3, 3)).astype(np.int8), QFormat(8, 6))
    fmt = QFormat(8, 0)
    cases = [
        ({"path": "float32"}, OutputRounding(fmt)),  # another path
        ({"path": "int8"}, OutputRounding(QFormat(12, 0))),  # wider than a byte
        ({"path": "int8"}, OutputRounding(fmt, "stochastic")),  # random numbers
        ({"path": "int8"}, OutputRounding(QFormat(8, 11))),  # a left shift
        ({"path": "int8", "acc": ops.Accumulator(16, "wrap")}, OutputRounding(fmt)),  # may wrap
    ]
    for kwargs, hint in cases:
        assert ops.conv2d(x, w, output_rounding=hint, **kwargs).stats.rounded is None
    stepped = FxArray(x.raw, x.fmt, step=0.03)
    assert ops.conv2d(stepped, w, path="int8", output_rounding=OutputRounding(fmt)
                      ).stats.rounded is None


def test_a_bad_hint_is_refused_by_name():
    x = FxArray(np.zeros((1, 1, 3, 3), dtype=np.int8), QFormat(8, 0))
    w = FxArray(np.zeros((1, 1, 3, 3), dtype=np.int8), QFormat(8, 0))
    with pytest.raises(TypeError, match="output_rounding must be"):
        ops.conv2d(x, w, output_rounding=QFormat(8, 0))
    with pytest.raises(ValueError, match="rounding"):
        ops.conv2d(x, w, output_rounding=OutputRounding(QFormat(8, 0), "nearest-ish"))
    with pytest.raises(ValueError, match="clip"):
        ops.conv2d(x, w, output_rounding=OutputRounding(QFormat(8, 0), clip=(-300, 0)))


def train_small(seed: int = 3) -> list[np.ndarray]:
    """Three int8 training steps of a small conv net; its master weights after them."""
    net = Network(Sequential("n", [
        Conv2d("c1", 2, 8, 3, 1, 1), BatchNorm2d("b1", 8, relu=True),
        Conv2d("c2", 8, 8, 3, 1, 1), BatchNorm2d("b2", 8, relu=True),
        GlobalAvgPool2d("gap"), Flatten("fl"), Linear("fc", 8, 3)]),
        (2, 8, 8), 3, Policy.load("int8"), seed=seed)
    opt = SGD(net.params)
    rng = np.random.default_rng(seed)
    for step in range(3):
        x, y = rng.standard_normal((6, 2, 8, 8)), rng.integers(0, 3, 6)
        net.train_step([x], [y], Context(seed, step, True, (0,)))
        opt.step(0.05, seed=seed, step=step)
    return [np.array(getattr(p.master, "raw", p.master)) for p in net.params]


def test_training_takes_the_output_pass_codes_and_changes_nothing(monkeypatch):
    """Training with the layers' hint and without it: the same weights, bit for bit, and the
    hint's codes are taken (the int8 path chosen by auto, as on a VNNI host)."""
    monkeypatch.setattr(paths, "NATIVE_DOT", True)
    taken = []
    take = fused.RoundedCodes.take

    def counted(self, *args):
        codes = take(self, *args)
        taken.append(codes is not None)
        return codes

    monkeypatch.setattr(fused.RoundedCodes, "take", counted)
    with_hint = train_small()
    assert sum(taken) >= 2  # c1 and c2 from the second step on
    monkeypatch.setattr(MacLayer, "_rounding", lambda self, ctx, part: None)
    taken.clear()
    without = train_small()
    assert not taken
    assert all(np.array_equal(a, b) for a, b in zip(with_hint, without, strict=True))
