"""Batch norm's kernels against plain sequential float64 loops: the per-channel sums (integer
sums where every float add is exact, interleaved float chains elsewhere) and the deferred
affine map and input gradient (their values, max|.|, strided samples and quantization)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fxsim.layers import _bn_kernels as kernels
from fxsim.layers._bn_sums import backward_sums, channel_sums, sums_are_exact
from fxsim.numeric.convert import quantize
from fxsim.numeric.formats import QFormat


@st.composite
def bn_cases(draw):
    """Codes of several dtypes (or floats), power-of-two or real LSBs, 1-6 channels."""
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 6)), draw(st.integers(1, 5)),
             draw(st.integers(1, 5)))
    dtype = draw(st.sampled_from([np.int8, np.int16, np.int32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if dtype == np.float64:
        x, g = rng.standard_normal(shape), rng.standard_normal(shape)
    else:
        info = np.iinfo(dtype)
        x = rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)
        g = rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)
    pow2 = draw(st.booleans())
    lsb = 2.0 ** draw(st.integers(-12, 3)) if pow2 else draw(st.floats(1e-4, 10.0))
    return x, g, lsb, draw(st.booleans()), rng


def sequential_sums(x, lsb):
    n, c, h, w = x.shape
    out = []
    for ch in range(c):
        k = float(x[0, ch, 0, 0]) * lsb
        a1 = a2 = 0.0
        for b in range(n):
            for i in range(h):
                for j in range(w):
                    d = float(x[b, ch, i, j]) * lsb - k
                    a1 += d
                    a2 += d * d
        out.append((k, a1, a2, float(x[:, ch].min()), float(x[:, ch].max())))
    return [np.array(v) for v in zip(*out, strict=True)]


def sequential_backward(x, x_lsb, g, g_lsb, mean, inv_std, scale, shift, relu):
    n, c, h, w = x.shape
    dbeta, dgamma = np.zeros(c), np.zeros(c)
    for ch in range(c):
        sb = sg = 0.0
        for b in range(n):
            for i in range(h):
                for j in range(w):
                    v = float(x[b, ch, i, j])
                    gv = float(g[b, ch, i, j]) * g_lsb
                    if relu and scale[ch] * v + shift[ch] <= 0.0:
                        gv = 0.0
                    sb += gv
                    sg += gv * ((v * x_lsb - mean[ch]) * inv_std[ch])
        dbeta[ch], dgamma[ch] = sb, sg
    return dbeta, dgamma


def channel_constants(rng, c):
    return (rng.standard_normal(c), rng.random(c) + 0.5, rng.standard_normal(c),
            rng.standard_normal(c))


@settings(max_examples=60, deadline=None)
@given(bn_cases())
def test_channel_and_backward_sums_equal_the_sequential_float_sums(case):
    x, g, lsb, relu, rng = case
    got, want = channel_sums(x, lsb), sequential_sums(x, lsb)
    assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
    mean, inv_std, scale, shift = channel_constants(rng, x.shape[1])
    got = backward_sums(x, lsb, g, lsb / 3, mean, inv_std, scale, shift, relu)
    want = sequential_backward(x, lsb, g, lsb / 3, mean, inv_std, scale, shift, relu)
    assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
    got = backward_sums(x, lsb, g, lsb, mean, inv_std, scale, shift, relu)
    want = sequential_backward(x, lsb, g, lsb, mean, inv_std, scale, shift, relu)
    assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))


def test_integer_sums_are_taken_only_where_every_float_add_is_exact():
    codes8, codes32 = np.zeros(4, np.int8), np.zeros(4, np.int32)
    assert sums_are_exact(codes8, 2.0**-5, 2**37, 2)
    assert not sums_are_exact(codes8, 2.0**-5, 2**37 + 1, 2)
    assert not sums_are_exact(codes8, 0.3, 4, 2)  # a real step: rounded products
    assert not sums_are_exact(codes32, 1.0, 2, 2)  # squares of 32-bit codes pass 2**53
    assert sums_are_exact(codes32, 1.0, 2**21, 1)
    assert not sums_are_exact(np.zeros(4), 1.0, 4, 1)  # floats


@settings(max_examples=40, deadline=None)
@given(bn_cases(), st.sampled_from(["nearest_even", "stochastic", "toward_zero"]))
def test_deferred_tensors_equal_their_materialized_values(case, rounding):
    x, g, lsb, relu, rng = case
    c = x.shape[1]
    mean, inv_std, scale, shift = channel_constants(rng, c)
    _, _, _, lows, highs = channel_sums(x, lsb)
    affine = kernels.affine(x, scale * lsb, shift, relu, (lows, highs))
    want = scale[None, :, None, None] * lsb * x.astype(np.float64) + shift[None, :, None, None]
    want = np.maximum(want, 0.0) if relu else want
    k, dbeta, dgamma = rng.random(c), rng.standard_normal(c), rng.standard_normal(c)
    grad = kernels.backward_input(x, lsb, g, lsb, mean, inv_std, scale, shift, relu, k,
                                  x.size // c, dbeta, dgamma)
    for deferred, values in ((affine, want), (grad, None)):
        def fresh(d=deferred):
            return type(d)(d.shape, d.fill, d._max_abs)

        values = deferred.values() if values is None else values
        assert np.array_equal(deferred.values(), values)
        assert fresh().max_abs() == np.abs(values).max()
        assert np.array_equal(fresh().strided(3), values.reshape(-1)[::3])
        fmt, blocks = QFormat(8, 2), fresh()
        codes = quantize(blocks, fmt, rounding, seed=5, stream=2)
        assert np.array_equal(codes.raw, quantize(values, fmt, rounding, seed=5, stream=2).raw)
        assert blocks._values is None  # rounded block by block, never materialized


def test_gradient_histogram_counts_what_np_histogram_counts():
    """log2|v| histograms (bins by floor, no sort) equal np.histogram on the same subsample,
    with zeros dropped, infinities and powers of two at the edges, for plain and deferred
    tensors."""
    from fxsim.layers.quantizer import HISTOGRAM_EDGES, HISTOGRAM_SAMPLES, log2_histogram
    from fxsim.numeric.deferred import DeferredFloat

    rng = np.random.default_rng(3)
    for case in range(40):
        v = rng.standard_normal(int(rng.integers(1, 40000))) * 10.0 ** rng.uniform(-15, 5)
        v[::7] = 0.0
        v[::11] = 2.0 ** rng.integers(-45, 12, v[::11].size)
        if case % 3 == 0:
            v[::13] = np.inf
        sample = np.abs(v[::max(1, v.size // HISTOGRAM_SAMPLES)])
        sample = sample[sample > 0]
        want, _ = np.histogram(np.clip(np.log2(sample), HISTOGRAM_EDGES[0],
                                       HISTOGRAM_EDGES[-1]), bins=HISTOGRAM_EDGES)
        assert np.array_equal(log2_histogram(v), want)

        def fill(start, stop, step, out, v=v):
            out[:] = v[start:stop:step]

        assert np.array_equal(log2_histogram(DeferredFloat(v.shape, fill)), want)


def test_a_deferred_tensor_takes_the_lfsr_words_of_its_blocks():
    """Stochastic rounding with the hardware random source: block by block, each block's
    words, the same codes as the whole array."""
    from fxsim.numeric.deferred import BLOCK, DeferredFloat
    from fxsim.numeric.lfsr import RandomSource

    values = np.random.default_rng(6).standard_normal(2 * BLOCK + 77)

    def fill(start, stop, step, out):
        out[:] = values[start:stop:step]

    source = RandomSource("lfsr", 32, 4)
    fmt = QFormat(8, 5)
    got = quantize(DeferredFloat(values.shape, fill), fmt, "stochastic_k", seed=3,
                   random_bits=8, random_source=source)
    want = quantize(values, fmt, "stochastic_k", seed=3, random_bits=8, random_source=source)
    assert np.array_equal(got.raw, want.raw) and got.stats == want.stats


def test_a_registered_rounding_rule_reads_deferred_tensors_and_real_steps():
    """A user rule (its own conversion path) on a deferred tensor and on real-step codes (the
    multiplier folded into the integer loop for the built-in modes) gives the codes of the
    materialized values and of the built-in mode it clones."""
    import user_rules  # noqa: F401  (registers nearest_even_clone)

    from fxsim.numeric.deferred import DeferredFloat
    from fxsim.numeric.formats import FxArray

    values = np.random.default_rng(8).standard_normal(5000)

    def fill(start, stop, step, out):
        out[:] = values[start:stop:step]

    fmt = QFormat(8, 5)
    got = quantize(DeferredFloat(values.shape, fill), fmt, "nearest_even_clone")
    assert np.array_equal(got.raw, quantize(values, fmt, "nearest_even").raw)
    codes = FxArray(np.arange(-3000, 3000, dtype=np.int32), QFormat(14, 0), step=0.37)
    from fxsim import requantize

    for rounding in ("nearest_even_clone", "nearest_even"):
        real = requantize(codes, QFormat(8, 0), rounding, step=0.05)
        exact = requantize(codes, QFormat(8, 0), "nearest_even", step=0.05, force_exact=True)
        assert np.array_equal(real.raw, exact.raw)
