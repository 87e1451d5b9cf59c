"""The claims section of RESULTS.md: each seed paper's claim next to what fxsim measured.

Verdicts follow one stated rule. Two mean accuracies tie when they differ by no more than the
tolerance: the larger of the two seed standard deviations, and at least :data:`TIE_FLOOR_PTS`
points. "A reaches B" holds when ``mean_A >= mean_B - tolerance``; "A beats B" when
``mean_A > mean_B + tolerance`` (a tie is reported as "not shown").

No verdict is given on too little evidence: below :data:`MIN_SEEDS` seeds, or when a policy's
own warm-up is half of the run or more (class difficulty runs every sample in high precision in
its first epoch: :data:`WARMUP_EPOCHS`), the verdict reads "too few seeds/epochs to judge".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

TIE_FLOOR_PTS = 0.5
MIN_SEEDS = 3  # fewer seeds give no verdict on accuracy
WARMUP_EPOCHS = {"cdmp": 1}  # epochs a policy spends before it does what it is about
CLAIMS = {
    "arc": "ARC (ISCAS 2024)",
    "cqat": "CQAT (ISOCC 2022)",
    "cdmp": "Class-difficulty mixed precision (ISOCC 2022)",
    "int4": "INT4 fixed-point training (Kim et al., ECCV 2024)",
}
ARC_LATENCY_CUT = 0.43  # ARC: 43% lower CPU latency than stochastic rounding
CQAT_DROP_PTS = 0.96  # CQAT: ResNet-18 on CIFAR-100 loses 0.96 points
CDMP_COMPRESSION = 1.33  # class-difficulty MP: 1.33x compression at equal accuracy


def _row(table: pd.DataFrame, net: str, policy: str) -> pd.Series | None:
    found = table[(table["net"] == net) & (table["policy"] == policy)]
    return None if found.empty else found.iloc[0]


def _std(row: pd.Series) -> float:
    return 0.0 if math.isnan(row["acc_std"]) else float(row["acc_std"])


def tolerance(a: pd.Series, b: pd.Series) -> float:
    """Points within which the mean accuracies of rows ``a`` and ``b`` tie."""
    return max(_std(a), _std(b), TIE_FLOOR_PTS)


def _acc(row: pd.Series) -> str:
    spread = "" if math.isnan(row["acc_std"]) else f" ± {row['acc_std']:.2f}"
    return f"{row['policy']} {row['acc_mean']:.2f}%{spread}"


def too_little(rows: list[pd.Series], epochs: int | None) -> str | None:
    """Why ``rows`` (summary rows, with ``seeds``) are too little to judge, or None: fewer than
    :data:`MIN_SEEDS` seeds, or a warm-up (:data:`WARMUP_EPOCHS`) of half the ``epochs`` or
    more."""
    seeds = min(int(r.get("seeds", MIN_SEEDS)) for r in rows)
    if seeds < MIN_SEEDS:
        return f"{seeds} seed(s); a verdict needs at least {MIN_SEEDS}"
    for row in rows:
        warm = WARMUP_EPOCHS.get(row["policy"], 0)
        if warm and epochs is not None and 2 * warm >= epochs:
            return (f"{epochs} epoch(s), {warm} of them {row['policy']}'s warm-up (every "
                    f"sample in high precision); a verdict needs more than {2 * warm}")
    return None


def _undecided(reason: str) -> str:
    return f"**too few seeds/epochs to judge** ({reason})"


def reaches(a: pd.Series, b: pd.Series, epochs: int | None = None) -> str:
    """Verdict on "a reaches b's accuracy", with the numbers."""
    diff, tol = a["acc_mean"] - b["acc_mean"], tolerance(a, b)
    reason = too_little([a, b], epochs)
    if reason is not None:
        verdict = _undecided(reason)
    elif diff >= 0:
        verdict = "**agrees**"
    elif diff >= -tol:
        verdict = f"**agrees** within the tolerance ({a['policy']}'s mean is lower)"
    else:
        verdict = f"**disagrees** ({a['policy']} is lower)"
    return (f"{_acc(a)} vs {_acc(b)}: difference {diff:+.2f} points, tolerance {tol:.2f} "
            f"-> {verdict}")


def beats(a: pd.Series, b: pd.Series, epochs: int | None = None) -> str:
    """Verdict on "a beats b", with the numbers."""
    diff, tol = a["acc_mean"] - b["acc_mean"], tolerance(a, b)
    reason = too_little([a, b], epochs)
    if reason is not None:
        verdict = _undecided(reason)
    elif diff > tol:
        verdict = "**agrees**"
    elif diff >= -tol:
        verdict = "**not shown** (a tie within the tolerance)"
    else:
        verdict = f"**disagrees** ({b['policy']} is better)"
    return (f"{_acc(a)} vs {_acc(b)}: difference {diff:+.2f} points, tolerance {tol:.2f} "
            f"-> {verdict}")


def _lower(cut: float) -> str:
    """``0.3`` -> "30% lower", ``-0.1`` -> "10% higher", ``0.001`` -> "the same (within
    0.5%)"."""
    if abs(cut) < 0.005:
        return "the same (within 0.5%)"
    return f"{100 * cut:.0f}% lower" if cut > 0 else f"{-100 * cut:.0f}% higher"


_LATENCY_SUBJECT = {"fxsim": "`fxsim.quantize`", "numpy": "plain numpy rounding"}


def _latency_verdict(cut: float) -> str:
    if cut >= ARC_LATENCY_CUT - 0.05:
        return ("**agrees**" if cut <= ARC_LATENCY_CUT + 0.05 else
                "**agrees in direction, larger than claimed**")
    if cut > 0.05:
        return "**agrees in direction, smaller than claimed**"
    return "**disagrees** (no latency advantage)"


def _missing(net: str, *policies: str) -> str:
    return f"{net}: not measured ({' or '.join(policies)} not in this sweep)"


def _arc_cost_line(net: str, arc8: pd.Series, sr8: pd.Series, int8: pd.Series) -> str:
    """arc8's whole-scheme cost per step against nearest (int8) and stochastic (sr8)."""
    def units(row: pd.Series) -> str:
        return (f"rounding {row['energy_rounding_pj']:.3g}, statistics "
                f"{row['energy_stats_pj']:.3g}, rescale {row['energy_rescale_pj']:.3g} pJ")

    extra = arc8["energy_pj"] / int8["energy_pj"] - 1
    area = arc8["area_um2"] / int8["area_um2"]
    verdict = ("**agrees**" if extra <= 0.01 and area <= 1.05 else
               "**disagrees** for the whole scheme")
    return (f"{net}, cost model, whole scheme per training step: arc8 {arc8['energy_pj']:.4g} pJ "
            f"({units(arc8)}), int8 {int8['energy_pj']:.4g} pJ ({units(int8)}), sr8 "
            f"{sr8['energy_pj']:.4g} pJ ({units(sr8)}); arc8 costs {100 * extra:+.1f}% energy "
            f"and {area:.2f}x the area of nearest rounding (int8; sr8: "
            f"{sr8['area_um2'] / int8['area_um2']:.2f}x) -> {verdict}: "
            "the rounding itself is cheap, but the z-score statistics (mean and std of every "
            "gradient) and the real-step rescale multipliers of the clipping rule are priced "
            "too.")


def arc_claims(table: pd.DataFrame, nets: list[str], timings: Mapping[str, Any],
               epochs: Mapping[str, int] | None = None) -> list[str]:
    lines = []
    epochs = epochs or {}
    for net in nets:
        arc8, sr8, int8 = (_row(table, net, p) for p in ("arc8", "sr8", "int8"))
        if arc8 is None or sr8 is None:
            lines.append(_missing(net, "arc8", "sr8"))
        else:
            near = "" if int8 is None else f" (nearest rounding, int8: {_acc(int8)})"
            lines.append(f"{net}, accuracy at 8 bits: {reaches(arc8, sr8, epochs.get(net))}"
                         f"{near}.")
        arc4, minmax4 = _row(table, net, "arc4"), _row(table, net, "int4_minmax")
        if arc4 is not None and minmax4 is not None:
            lines.append(f"{net}, accuracy at 4 bits (arc4 against int4_minmax, the same "
                         f"formats with stochastic rounding on a min-max interval): "
                         f"{reaches(arc4, minmax4, epochs.get(net))}.")
        if arc8 is not None and sr8 is not None and int8 is not None:
            lines.append(_arc_cost_line(net, arc8, sr8, int8))
    units = timings.get("units")
    if units is not None:
        u = units.set_index("rounding")
        tz, sr = u.loc["toward_zero"], u.loc["stochastic"]
        verdict = "**agrees**" if tz["energy_vs_nearest"] <= 1.1 else "**disagrees**"
        lines.append(
            f"Hardware cost of one rounding unit (32-bit accumulator to 8 bits, 45 nm): "
            f"toward_zero {tz['energy_vs_nearest']:.2f}x the energy and "
            f"{tz['area_vs_nearest']:.2f}x the area of nearest_even; stochastic "
            f"{sr['energy_vs_nearest']:.2f}x and {sr['area_vs_nearest']:.2f}x -> {verdict} "
            "with 'nearest-rounding hardware cost' (this is the cost model's unit definition, "
            "an incrementer plus a sticky OR tree, not a synthesis result).")
    latency = timings.get("latency")
    if latency is not None:
        for (impl, scale), part in latency.groupby(["implementation", "scale"], sort=False):
            t = part.set_index("rounding")
            cut = 1 - t.loc["toward_zero", "vs_stochastic"]
            lines.append(
                f"CPU latency, {_LATENCY_SUBJECT[impl]} ({scale} scale, CPU time): toward_zero "
                f"{t.loc['toward_zero', 'cpu_ms']:.1f} ms vs stochastic "
                f"{t.loc['stochastic', 'cpu_ms']:.1f} ms, {_lower(cut)} (claim: "
                f"{100 * ARC_LATENCY_CUT:.0f}% lower) -> {_latency_verdict(cut)}.")
        lines.append(
            "fxsim's stochastic rounding hashes (seed, stream, element index) inside the "
            "rounding kernel, so it needs no second pass over memory for random numbers; the "
            "numpy rows draw a random array first, as software stochastic rounding usually "
            "does. The claim is about the paper's implementation, which is neither.")
    steps = timings.get("steps")
    if steps is not None:
        s = steps.set_index("policy")["cpu_ms_per_step"]
        if "arc8" in s and "sr8" in s:
            lines.append(
                f"Whole training step of the digits CNN (CPU time): arc8 {s['arc8']:.1f} ms vs sr8 "
                f"{s['sr8']:.1f} ms ({_lower(1 - s['arc8'] / s['sr8'])} for arc8)"
                + (f", int8 {s['int8']:.1f} ms" if "int8" in s else "")
                + "; gradient rounding is a small part of a step (convolutions dominate), "
                "and arc8's z-score statistics cost time of their own.")
    return lines


def _per_net(table: pd.DataFrame, nets: list[str], first: str, second: str,
             describe: Callable[..., str], epochs: Mapping[str, int] | None) -> list[str]:
    """``describe(net, row_first, row_second, epochs)`` for every net that has both
    policies."""
    lines = []
    for net in nets:
        a, b = _row(table, net, first), _row(table, net, second)
        lines.append(_missing(net, first, second) if a is None or b is None
                     else describe(net, a, b, (epochs or {}).get(net)))
    return lines


def _cqat_line(net: str, cqat: pd.Series, fp: pd.Series, epochs: int | None) -> str:
    drop, tol = cqat["drop_vs_fp"], tolerance(cqat, fp)
    reason = too_little([cqat, fp], epochs)
    if reason is not None:
        verdict = _undecided(reason)
    elif drop <= CQAT_DROP_PTS + tol:
        verdict = "**agrees** (a drop no larger than the paper's, within the tolerance)"
    else:
        verdict = "**disagrees** (a larger drop)"
    return (f"{net}: {_acc(cqat)} vs {_acc(fp)}: drop {drop:+.2f} points (claim: "
            f"{CQAT_DROP_PTS:.2f}), tolerance {tol:.2f} -> {verdict}; energy saving vs fp "
            f"{100 * cqat['energy_saving_vs_fp']:.1f}%, compression "
            f"{cqat['compression_vs_fp']:.2f}x.")


def _cdmp_line(net: str, cdmp: pd.Series, base: pd.Series, epochs: int | None) -> str:
    ratio = cdmp["compression_vs_base"]
    reason = too_little([cdmp, base], epochs)
    if math.isnan(ratio):
        size = "compression not priced (see the cost-model notes)"
    else:
        verdict = (_undecided(reason) if reason is not None else
                   "**agrees**" if ratio >= CDMP_COMPRESSION - 0.05 else
                   "**disagrees** (less compression)")
        size = (f"compression against cdmp_base {ratio:.2f}x (claim: {CDMP_COMPRESSION:.2f}x) "
                f"-> {verdict}; energy saving {100 * cdmp['energy_saving_vs_base']:.1f}%")
    return (f"{net}: accuracy {reaches(cdmp, base, epochs)}. Measured easy share "
            f"{100 * cdmp['easy_share']:.1f}% of training samples (mean over epochs and seeds; "
            f"the first epoch runs all samples in high precision); {size}. Only the easy "
            "samples' activations and activation gradients shrink; weights, weight gradients "
            "and the master copy do not, which bounds the ratio.")


def _int4_line(table: pd.DataFrame) -> Callable[..., str]:
    def line(net: str, interval: pd.Series, minmax: pd.Series, epochs: int | None) -> str:
        arc4 = _row(table, net, "arc4")
        extra = "" if arc4 is None else f" (arc4, the z-score interval: {_acc(arc4)})"
        return (f"{net}: {beats(interval, minmax, epochs)}{extra}; drop vs fp "
                f"{interval['drop_vs_fp']:+.2f} points for int4_interval, "
                f"{minmax['drop_vs_fp']:+.2f} for int4_minmax.")
    return line


def claims_markdown(table: pd.DataFrame, timings: Mapping[str, Any],
                    epochs: Mapping[str, int] | None = None) -> str:
    """The "claims against measurements" section, one subsection per seed paper; ``epochs``:
    the epochs of each net's runs (for :func:`too_little`)."""
    nets = list(dict.fromkeys(table["net"]))
    sections = [
        ("arc", "gradients rounded toward zero (deterministic, no random numbers) with the "
                "clipping value from the z-score of the gradient distribution reach the accuracy "
                "of stochastic rounding at the hardware cost of nearest rounding, with 43% "
                "lower CPU latency than stochastic rounding.",
         arc_claims(table, nets, timings, epochs)),
        ("cqat", "quantize weights and activations to 8 bits, then clip the codes so only 5 "
                 "bits (weights) and 4 bits (activations) are used; ResNet-18 on CIFAR-100 "
                 f"loses {CQAT_DROP_PTS} points against full precision.",
         _per_net(table, nets, "cqat", "fp", _cqat_line, epochs)),
        ("cdmp", "samples of easy classes run with low-bit activations and gradients, hard "
                 f"classes with high bits; {CDMP_COMPRESSION}x compression at equal accuracy "
                 "against 8-bit weights and activations with 16-bit gradients (ResNet-20, "
                 "CIFAR-10). fxsim's baseline for it is `cdmp_base`: the cdmp policy without "
                 "class groups.",
         _per_net(table, nets, "cdmp", "cdmp_base", _cdmp_line, epochs)),
        ("int4", "at 4 bits, the activation-gradient interval that minimises the error of the "
                 "large gradients (clip gamma * max|g|, gamma adapted every step) trains better "
                 "than a min-max interval.",
         _per_net(table, nets, "int4_interval", "int4_minmax", _int4_line(table), epochs)),
    ]
    parts = ["## The seed papers' claims against what fxsim measured\n",
             f"Rule: two mean accuracies tie when they differ by at most the tolerance, the "
             f"larger of their seed standard deviations and at least {TIE_FLOOR_PTS} points; "
             f"no verdict below {MIN_SEEDS} seeds or when a policy's warm-up (class "
             "difficulty's first epoch) is half the run or more. "
             "The papers measured CIFAR on ResNets; where the table has only digits, a "
             "verdict says whether the digits numbers are consistent with the claim, not "
             "whether the claim holds.\n"]
    for key, claim, measured in sections:
        parts.append(f"### {CLAIMS[key]}\n\n**Claim.** {claim[0].upper()}{claim[1:]}\n\n"
                     "**fxsim measured.**\n")
        parts.append("\n".join(f"- {line}" for line in measured) + "\n")
    return "\n".join(parts)


def sensitivity_markdown(found_by_net: Mapping[str, pd.DataFrame]) -> str:
    """A section per net of the cost verdicts one source number or assumption can flip
    (``costmodel.flips`` tables, as :func:`fxsim.reproduce.measure.cost_sensitivity` gives)."""
    parts = []
    for net, found in found_by_net.items():
        parts.append(
            f"\n## Cost verdicts under the sensitivity analysis ({net})\n\n"
            "Each source number (each primitive kind x0.5..x2, DRAM x1..x2, the wire x0.5..x4) "
            "and each assumption (data/assumptions.csv, the architecture's float units and bits "
            "per generator, the register calibration, the range pass) varied alone on the same "
            "design (`costmodel.sensitivity`, `fxsim cost --sensitivity`). ")
        if len(found):
            parts.append("These variations flip a verdict (the sign of an energy or area saving "
                         "against fp, or the order of two schemes more than 1% apart in energy "
                         "or area); a verdict listed here holds only under the default "
                         "assumption:\n")
            parts.extend(f"- {row.assumption} {row.setting}: {row.flips}"
                         for row in found.itertuples(index=False))
        else:
            parts.append("No variation flips a saving's sign or the order of two schemes.")
    return "\n".join(parts) + ("\n" if parts else "")
