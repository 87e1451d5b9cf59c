"""An independent model of fxsim's arithmetic, written from docs/semantics.md and
docs/trace-format.md alone: it imports nothing of fxsim, reads a trace folder's trace.json and
hex files, recomputes every event's outputs from its inputs with Python integers and exact
rationals, and lists every mismatch.

``replay(folder) -> list[str]`` (empty: every code agrees).
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import numpy as np

# ---- section 3 of docs/semantics.md: the random words -------------------------------------------
M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def _finalise(z: int) -> int:
    z &= M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def random_top_bits(seed: int, stream: int, count: int, k: int) -> list[int]:
    """``r`` of elements ``0..count-1``: the top ``k`` bits of each word."""
    key = _finalise(_finalise((seed + GOLDEN) & M64) ^ _finalise((stream + 2 * GOLDEN) & M64))
    return [_finalise(key + (i + 1) * GOLDEN) >> (64 - k) for i in range(count)]


# ---- section 2: rounding an exact rational ------------------------------------------------------
# Every y fxsim rounds is dyadic: codes times M over 2**n, and floats (mantissa times a power of
# two), so y = num / 2**d exactly and integer operations round it.
def dyadic(y: Fraction) -> tuple[int, int]:
    """``(num, d)`` with ``y = num / 2**d``, ``d >= 0``."""
    d = y.denominator.bit_length() - 1
    assert y.denominator == 1 << d, "not a dyadic rational"
    return y.numerator, d


def round_exact(y: Fraction, mode: str, r: int = 0, k: int = 0) -> int:
    num, d = dyadic(y)
    return round_dyadic(num, d, mode, r, k)


def round_dyadic(num: int, d: int, mode: str, r: int = 0, k: int = 0) -> int:
    """``num / 2**d`` rounded by ``mode`` (stochastic modes: ``r`` of ``k`` random bits)."""
    q = num >> d  # floor
    rest = num - (q << d)  # 0 <= rest < 2**d
    half = 1 << (d - 1) if d else 1  # with d = 0 there is no rest to round
    if mode == "floor":
        return q
    if mode == "ceil":
        return q + (rest > 0)
    if mode == "toward_zero":
        return q if num >= 0 else q + (rest > 0)
    if mode == "nearest_up":
        return q + (rest >= half)
    if mode == "nearest_even":
        return q + (rest > half or (rest == half and q & 1 == 1))
    if mode == "nearest_away":
        return q + (rest > half or (rest == half and num > 0))
    if mode in ("stochastic", "stochastic_k"):
        scaled = num >> (d - k) if d >= k else num << (k - d)  # floor(y * 2**k)
        return (scaled + r) >> k
    raise ValueError(mode)


def fit(v: int, lo: int, hi: int, bits: int, signed: bool, overflow: str) -> int:
    if overflow == "saturate":
        return min(max(v, lo), hi)
    v &= (1 << bits) - 1
    return v - (1 << bits) if signed and v >= 1 << (bits - 1) else v


# ---- reading the files ------------------------------------------------------------------------
def read_hex(path: Path, meta: dict) -> np.ndarray:
    words = [int(line, 16) for line in path.read_text().split()]
    width = meta["bits"]
    assert all(len(line) == -(-width // 4) for line in path.read_text().split()), path
    shape = tuple(meta["shape"])
    if meta["float64"]:
        return np.array(words, dtype=np.uint64).view(np.float64).reshape(shape)
    if width == 1:
        return np.array(words, dtype=bool).reshape(shape)
    if meta["signed"]:
        words = [w - (1 << width) if w >= 1 << (width - 1) else w for w in words]
    return np.array(words, dtype=object).reshape(shape)


def _ints(array: np.ndarray) -> list[int]:
    return [int(v) for v in array.reshape(-1)]


# ---- section 4: conversions -------------------------------------------------------------------
def _bounds(event: dict) -> tuple[int, int]:
    return event["code_min"], event["code_max"]


def _draws(event: dict, count: int) -> tuple[list[int], int]:
    if event["random_bits"] is None:
        return [0] * count, 0
    k = event["random_bits"]
    return random_top_bits(event["seed"], event["stream"], count, k), k


def _float_dyadic(x: float, frac: int) -> tuple[int, int]:
    """``x * 2**frac`` as ``(num, d)``, exactly."""
    num, den = x.as_integer_ratio()
    d = den.bit_length() - 1 - frac
    return (num, d) if d >= 0 else (num << -d, 0)


def convert(event: dict, ys: list[tuple[int, int]], out_meta: dict
            ) -> tuple[list[int], list[bool]]:
    """Codes and the 'clamped' flags of the exact values ``ys`` (``num / 2**d`` pairs) under
    the event's rounding and overflow (section 4, steps 2 and 3)."""
    rs, k = _draws(event, len(ys))
    lo, hi = _bounds(event)
    codes, clamped = [], []
    for (num, d), r in zip(ys, rs, strict=True):
        v = round_dyadic(num, d, event["rounding"], r, k)
        clamped.append(not lo <= v <= hi)
        codes.append(fit(v, lo, hi, out_meta["bits"], out_meta["signed"], event["overflow"]))
    return codes, clamped


def _ceil_log2(c: float) -> int:
    mant, exp = math.frexp(c)
    return exp - 1 if mant == 0.5 else exp


def check_minmax_scale(event: dict, t: dict) -> list[str]:
    """Section 5: a min-max rule's scale from max|x| (codes: max|code| * lsb in float64)."""
    scale, meta = event["scale"], event["tensors"]["q"]
    x_meta = event["tensors"]["x"]
    if event["kind"] == "quantize":
        c = float(np.abs(np.asarray(t["x"], dtype=np.float64)).max())
    else:
        lsb = x_meta["step"] if x_meta["step"] is not None else 2.0 ** -x_meta["frac"]
        c = float(max(abs(int(v)) for v in t["x"].reshape(-1))) * lsb
    c = c or 1.0  # a tensor with no nonzero element takes the scale of c = 1
    bits, signed = meta["bits"], meta["signed"]
    top = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
    if scale["step"] is None:
        want = (bits - 1 if signed else bits) - _ceil_log2(c)
        ok = scale["frac"] == want
    else:
        want = c / top
        ok = scale["step"] == want
    lo, hi = event["code_min"], event["code_max"]
    ok = ok and (lo, hi) == ((-top, top) if signed else (0, top))
    return [] if ok else [f"{event['id']}: min-max scale {scale}, model {want} "
                          f"(codes {lo}..{hi})"]


def check_conversion(event: dict, t: dict) -> list[str]:
    q_meta = event["tensors"]["q"]
    if event["kind"] == "quantize":
        scale = event["scale"]
        xs = [float(v) for v in t["x"].reshape(-1)]
        if scale["step"] is not None:
            ys = [_float_dyadic(x / scale["step"], 0) for x in xs]  # fl(x / step), then exact
        else:
            ys = [_float_dyadic(x, scale["frac"]) for x in xs]
    else:
        m, n = event["multiplier"], event["shift"]
        ys = [(v * m, n) if n >= 0 else (v * m << -n, 0) for v in _ints(t["x"])]
    codes, clamped = convert(event, ys, q_meta)
    errors = []
    if codes != _ints(t["q"]):
        bad = sum(a != b for a, b in zip(codes, _ints(t["q"]), strict=True))
        errors.append(f"{event['id']}: {bad} codes differ")
    count = sum(clamped)
    if event["overflow"] == "saturate" and count != event["saturated"]:
        errors.append(f"{event['id']}: saturated {event['saturated']}, model {count}")
    if "clamped" in t and clamped != [bool(v) for v in t["clamped"].reshape(-1)]:
        errors.append(f"{event['id']}: the clamp mask differs")
    return errors


# ---- section 6: products --------------------------------------------------------------------
def _conv_terms(a: np.ndarray, b: np.ndarray, op: str, geometry: dict, out_shape: tuple):
    """Each output's products as rows of a (outputs, terms) int64 matrix, terms in the
    documented accumulation order."""
    sh, sw = geometry["stride"]
    ph, pw = geometry["padding"]
    dh, dw = geometry["dilation"]
    assert geometry["groups"] == 1
    a = a.astype(np.int64)
    b = b.astype(np.int64)
    if op == "conv2d":  # a = x (N, C, H, W), b = w (O, C, KH, KW); terms c, kh, kw
        n, c, h, w = a.shape
        o, _, kh, kw = b.shape
        _, _, oh, ow = out_shape
        padded = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=np.int64)
        padded[:, :, ph:ph + h, pw:pw + w] = a
        cols = np.empty((n, oh, ow, c, kh, kw), dtype=np.int64)
        for i in range(kh):
            for j in range(kw):
                cols[:, :, :, :, i, j] = padded[:, :, i * dh:i * dh + sh * oh:sh,
                                                j * dw:j * dw + sw * ow:sw].transpose(0, 2, 3, 1)
        cols = cols.reshape(n, oh * ow, c * kh * kw)
        prods = cols[:, None, :, :] * b.reshape(o, -1)[None, :, None, :]  # n, o, pos, terms
        return prods.reshape(-1, c * kh * kw)
    if op == "conv2d_backward_input":  # a = g (N, O, OH, OW), b = w; terms o, kh, kw
        n, o, oh, ow = a.shape
        _, c, kh, kw = b.shape
        _, _, h, w = out_shape
        terms = np.zeros((n, c, h, w, o, kh, kw), dtype=np.int64)
        for i in range(kh):
            for j in range(kw):
                for y in range(h):
                    ty = y + ph - i * dh
                    if ty % sh or not 0 <= ty // sh < oh:
                        continue
                    for x in range(w):
                        tx = x + pw - j * dw
                        if tx % sw or not 0 <= tx // sw < ow:
                            continue
                        # g[n, o, ty/sh, tx/sw] * w[o, c, i, j] for every n, c, o
                        terms[:, :, y, x, :, i, j] = (a[:, :, ty // sh, tx // sw][:, None, :]
                                                      * b[:, :, i, j].T[None, :, :])
        return terms.reshape(-1, o * kh * kw)
    if op == "conv2d_backward_weight":  # a = x, b = g; terms n, oh, ow
        n, c, h, w = a.shape
        _, o, oh, ow = b.shape
        _, _, kh, kw = out_shape
        padded = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=np.int64)
        padded[:, :, ph:ph + h, pw:pw + w] = a
        terms = np.empty((o, c, kh, kw, n, oh, ow), dtype=np.int64)
        for i in range(kh):
            for j in range(kw):
                patch = padded[:, :, i * dh:i * dh + sh * oh:sh, j * dw:j * dw + sw * ow:sw]
                for oo in range(o):  # g[n, oo, y, x] * x[n, c, y*s + i, x*s + j]
                    terms[oo, :, i, j] = b[:, oo][None] * patch.transpose(1, 0, 2, 3)
        return terms.reshape(-1, n * oh * ow)
    raise ValueError(op)


def _linear_terms(a: np.ndarray, b: np.ndarray, op: str) -> np.ndarray:
    a = a.astype(np.int64)
    b = b.astype(np.int64)
    if op == "linear":  # a = x (N, I), b = w (O, I): out[n, o] over i
        return (a[:, None, :] * b[None, :, :]).reshape(-1, a.shape[1])
    if op == "linear_backward_input":  # a = g (N, O), b = w (O, I): out[n, i] over o
        return (a[:, None, :] * b.T[None, :, :]).reshape(-1, a.shape[1])
    if op == "linear_backward_weight":  # a = x (N, I), b = g (N, O): out[o, i] over n
        return (b.T[:, None, :] * a.T[None, :, :]).reshape(-1, a.shape[0])
    raise ValueError(op)


def check_mac(event: dict, t: dict) -> list[str]:
    acc_meta = event["tensors"]["acc"]
    out_shape = tuple(acc_meta["shape"])
    a, b = np.array(t["a"], dtype=np.int64), np.array(t["b"], dtype=np.int64)
    if event["op"].startswith("conv2d"):
        terms = _conv_terms(a, b, event["op"], event["geometry"], out_shape)
    else:
        terms = _linear_terms(a, b, event["op"])
    bits, overflow = event["acc_bits"], event["acc_overflow"]
    exact = terms.sum(axis=1)
    if bits is None:
        result, overflowed, events = exact, 0, 0
    elif overflow == "wrap":
        modulus = 1 << bits
        result = (exact + modulus // 2) % modulus - modulus // 2
        crossings = np.abs(exact - result) // modulus
        overflowed, events = int(np.count_nonzero(crossings)), int(crossings.sum())
    else:  # saturate at every add, in order
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        acc = np.zeros(len(terms), dtype=np.int64)
        hit = np.zeros(len(terms), dtype=bool)
        events = 0
        for column in terms.T:
            total = acc + column
            clamp = (total < lo) | (total > hi)
            events += int(clamp.sum())
            hit |= clamp
            acc = np.clip(total, lo, hi)
        result, overflowed = acc, int(hit.sum())
    errors = []
    if [int(v) for v in result] != _ints(t["acc"]):
        errors.append(f"{event['id']}: accumulator codes differ")
    counted = event["saturated"] + event["wrapped"]
    if (counted, event["events"]) != (overflowed, events):
        errors.append(f"{event['id']}: overflow counts {counted}/{event['events']}, model "
                      f"{overflowed}/{events}")
    return errors


# ---- section 8: the optimizer -------------------------------------------------------------------
def _requantize_all(values: list[int], n: int, rounding: str, seed, stream, k, bits: int,
                    multiplier: int = 1) -> list[int]:
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    rs = random_top_bits(seed, stream, len(values), k) if k else [0] * len(values)
    return [min(max(round_dyadic(v * multiplier, n, rounding, r, k) if n >= 0
                    else v * multiplier << -n, lo), hi)
            for v, r in zip(values, rs, strict=True)]


def check_update(event: dict, t: dict) -> list[str]:
    h, bits = event["const_frac"], event["bits"]
    k = event["random_bits"] or 0
    seed, streams, rounding = event["seed"], event["streams"], event["rounding"]
    grad, limit = _ints(t["grad"]), event["g_limit"]
    m, n = event["g_multiplier"], event["g_shift"]
    if m == 1 and n <= 0:
        g_wide = [v << -n for v in grad]
    else:
        g_wide = _requantize_all(grad, n, rounding, seed, streams[0], k, bits + h, m)
    g_wide = [min(max(v, -limit), limit) for v in g_wide]
    v, w = _ints(t["v"]), _ints(t["w"])
    v_acc = [event["momentum_c"] * a + g + event["decay_c"] * c
             for a, g, c in zip(v, g_wide, w, strict=True)]
    v_out = _requantize_all(v_acc, h, rounding, seed, streams[1], k, bits)
    w_acc = [(c << h) - event["lr_c"] * a for c, a in zip(w, v_out, strict=True)]
    w_out = _requantize_all(w_acc, h, rounding, seed, streams[2], k, bits)
    errors = []
    for name, mine in (("g_wide", g_wide), ("v_acc", v_acc), ("v_out", v_out),
                       ("w_acc", w_acc), ("w_out", w_out)):
        if mine != _ints(t[name]):
            errors.append(f"{event['id']}: {name} differs")
    return errors


# ---- the other events ---------------------------------------------------------------------------
def check_bias(event: dict, t: dict) -> list[str]:
    want = np.array(t["acc"], dtype=object) + np.array(t["bias"], dtype=object)  # (N, O) + (O,)
    return [] if _ints(want) == _ints(t["out"]) else [f"{event['id']}: bias sum differs"]


def check_ste(event: dict, t: dict, masks: dict) -> list[str]:
    grad, mask, out = t["grad"].reshape(-1), t["mask"].reshape(-1), t["out"].reshape(-1)
    want = [g if keep else 0 for g, keep in zip(grad.tolist(), mask.tolist(), strict=True)]
    errors = [] if want == out.tolist() else [f"{event['id']}: masked gradient differs"]
    clamped = masks.get((event["layer"], event["part"]))
    expected = [True] * len(mask) if clamped is None else [not c for c in clamped]
    if mask.tolist() != expected:
        errors.append(f"{event['id']}: the mask is not 'zero exactly where the forward "
                      "conversion clamped'")
    return errors


def replay(folder: str | Path) -> list[str]:
    """Every mismatch between the trace in ``folder`` and this model (empty: none)."""
    folder = Path(folder)
    document = json.loads((folder / "trace.json").read_text())
    errors: list[str] = []
    masks: dict[tuple[str, int], list[bool]] = {}  # forward clamp masks of output quantizers
    for event in document["events"]:
        t = {name: read_hex(folder / meta["hex"], meta)
             for name, meta in event["tensors"].items()}
        if event["kind"] in ("quantize", "requantize"):
            errors += check_conversion(event, t)
            if event["scale"]["rule"] == "minmax":
                errors += check_minmax_scale(event, t)
            if event["role"] == "activations" and event["phase"] == "forward":
                masks[(event["layer"], event["part"])] = (
                    [bool(v) for v in t["clamped"].reshape(-1)] if "clamped" in t else None)
        elif event["kind"] == "mac":
            errors += check_mac(event, t)
        elif event["kind"] == "update":
            errors += check_update(event, t)
        elif event["kind"] == "bias":
            errors += check_bias(event, t)
        elif event["kind"] == "ste":
            errors += check_ste(event, t, masks)
        else:
            errors.append(f"{event['id']}: unknown kind {event['kind']!r}")
    return errors
