"""The range-rule base class, the registry of rules by name, and :func:`make_rule`.

A rule turns a tensor's real values (float64, this step) into a :class:`Scale`. Most rules
compute one clipping value ``c > 0`` and derive the scale from it (:meth:`RangeRule.scale_for`);
adaptive rules keep state across steps, updated by :meth:`RangeRule.observe` and saved by
:meth:`RangeRule.state_dict` (JSON-able, floats as ``float.hex`` strings so that a resumed run
chooses bit for bit what the uninterrupted one would).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Protocol

import numpy as np

from fxsim.numeric.formats import MAX_BITS, FxArray, check_int
from fxsim.ranges.params import RuleParam, choice_param, resolve_params
from fxsim.ranges.scale import SCALE_KINDS, Scale, pow2_frac, real_step, symmetric_codes

ZERO_TENSOR_CLIP = 1.0  # the scale of a tensor with no nonzero element is that of clip 1.0


def scale_param(default: str) -> RuleParam:
    """The ``scale`` parameter every rule has: ``"pow2"`` or ``"real"``."""
    return choice_param(default, SCALE_KINDS)


class BlockTensor(Protocol):
    """A float64 tensor whose statistics are computed block by block, over the threads:
    :class:`fxsim.numeric.deferred.DeferredFloat` (a batch-norm gradient, or known values
    read over the threads). Each method is exact: bit for bit what the same numpy call on the
    values gives. Rules that declare :attr:`RangeRule.reads_blocks` accept one in place of an
    array; ``np.asarray`` of it materializes the values."""

    shape: tuple[int, ...]

    @property
    def size(self) -> int: ...

    def max_abs(self) -> float:
        """``max|x|`` (0.0 when empty; NaN if a value is NaN)."""

    def mean_and_std(self) -> tuple[float, float]:
        """``(np.mean(x), np.std(x))`` (float64; infinities or NaN where the sums overflow)."""


def is_block_tensor(values: object) -> bool:
    """Is ``values`` a :class:`BlockTensor` (not an array, and has its methods)? A check by
    attribute: ``isinstance`` with a runtime-checkable protocol took about 40 us per call."""
    return not isinstance(values, np.ndarray) and hasattr(type(values), "mean_and_std")


def float_tensor(values: object) -> np.ndarray | BlockTensor:
    """``values`` as :func:`float_values` makes them, or a :class:`BlockTensor` as it is."""
    return values if is_block_tensor(values) else float_values(values)


def float_values(values: object) -> np.ndarray:
    """``values`` as a float64 array (int and bool arrays are converted); refuses FxArray,
    complex, object and string arrays."""
    if isinstance(values, FxArray):
        raise TypeError("values must be a real array, got an FxArray; pass its .to_float()")
    arr = np.asarray(values)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"values must be a real numeric array, got dtype {arr.dtype}")
    return arr.astype(np.float64, copy=False)


def max_abs(x: np.ndarray | BlockTensor, known: float | None = None) -> float:
    """``max|x|`` (0.0 for an empty array); ValueError if ``x`` holds NaN or infinity.
    ``known``: ``max|x|`` as the caller found it (NaN if ``x`` holds one), checked the same way
    instead of two passes over ``x``."""
    if not x.size:
        return 0.0
    if known is None:
        known = x.max_abs() if is_block_tensor(x) else max(float(x.max()),
                                                                    -float(x.min()))
    largest = float(known)
    if not np.isfinite(largest):
        raise ValueError(
            "values contain NaN or infinity; a range rule needs finite values "
            f"(max|values| = {largest})"
        )
    return largest


def hex_or_none(value: float | None) -> str | None:
    """``float.hex(value)``, or None: an exactly round-trippable JSON form of a float."""
    return None if value is None else float(value).hex()


def float_or_none(text: str | None, name: str) -> float | None:
    """The float written by :func:`hex_or_none`, or a ValueError naming the state entry."""
    if text is None:
        return None
    try:
        return float.fromhex(text)
    except (TypeError, ValueError):
        raise ValueError(f"state entry {name} must be a float.hex string, got {text!r}") from None


class RangeRule:
    """Base of the range rules; one subclass per rule, registered by :attr:`name`.

    Subclasses declare :attr:`PARAMS` and override :meth:`clip_value` (default ``max|x|``; or
    :meth:`choose_nonzero` for rules that pick the scale themselves), and the hooks
    :meth:`magnitude_bits`, :meth:`step_divisor`, :meth:`code_limits` where their paper says
    so. Adaptive rules override :meth:`observe`, :meth:`_state` and :meth:`_load_state`.
    """

    name: ClassVar[str] = ""
    PARAMS: ClassVar[dict[str, RuleParam]] = {}
    # False: :meth:`choose` reads only max|x| of the values (the quantizer then passes max|x|
    # taken from the codes, without a float copy), and the rule keeps no state to observe
    needs_values: ClassVar[bool] = True
    # False: the clip is never below max|x|, so saturation is a rounding matter (at most one
    # LSB) and the straight-through estimator passes every gradient
    clips: ClassVar[bool] = True
    # True: choose() and observe() accept a BlockTensor (read block by block, on the threads)
    # in place of the values, and take what they need through its methods
    reads_blocks: ClassVar[bool] = False

    def __init__(self, **params: object) -> None:
        self.params = resolve_params(self.name, self.PARAMS, params)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"

    # --- choosing -------------------------------------------------------------------------

    def choose(self, values: np.ndarray | BlockTensor, bits: int, signed: bool,
               largest: float | None = None) -> Scale:
        """The scale for ``values`` (this step's real values of the tensor, float64, or a
        :class:`BlockTensor` of them for rules that declare :attr:`reads_blocks`) quantized
        to ``bits``-bit codes, ``signed`` or not. Deterministic: the same values, parameters
        and state give the same Scale; choosing changes no state (see :meth:`observe`).
        ``largest``: ``max|values|`` when the caller knows it (see :func:`max_abs`).

        A tensor with no nonzero element (or none at all) gets the scale of clip 1.0 and
        ``clip = 0.0``; a rule whose clip comes out 0 on a nonzero tensor (a percentile of a
        mostly-zero tensor) falls back to ``max|x|``. NaN or infinite values: ValueError.
        """
        x = float_tensor(values) if self.reads_blocks else float_values(values)
        bits, signed = self.check_bits(bits, signed)
        largest = max_abs(x, largest)
        if largest == 0.0:
            return self.choose_zero(bits, signed)
        return self.choose_nonzero(x, largest, bits, signed)

    def choose_zero(self, bits: int, signed: bool) -> Scale:
        """The scale for a tensor with no nonzero element: that of clip 1.0, reported as 0.0."""
        return self.scale_for(ZERO_TENSOR_CLIP, bits, signed, reported_clip=0.0)

    def check_bits(self, bits: int, signed: bool) -> tuple[int, bool]:
        """``(bits, signed)`` checked: signed codes need 2..62 bits (symmetric codes leave
        none with 1 bit), unsigned 1..62."""
        if not isinstance(signed, (bool, np.bool_)):
            raise TypeError(f"signed must be True or False, got {signed!r}")
        signed = bool(signed)
        return check_int("bits", bits, 2 if signed else 1, MAX_BITS), signed

    def choose_nonzero(self, x: np.ndarray, largest: float, bits: int, signed: bool) -> Scale:
        """The scale for a tensor with ``max|x| = largest > 0``: from :meth:`clip_value`."""
        clip = self.clip_value(x, largest, bits, signed)
        return self.scale_for(clip if clip > 0 else largest, bits, signed)

    def clip_value(self, x: np.ndarray, largest: float, bits: int, signed: bool) -> float:
        """The clipping magnitude ``c`` of the rule for ``x`` (``largest = max|x| > 0``); by
        default ``max|x|`` itself."""
        return largest

    def magnitude_bits(self, bits: int, signed: bool) -> int:
        """Bits of magnitude a pow2 scale fits the clip into: ``bits - 1`` signed, else bits."""
        return bits - 1 if signed else bits

    def step_divisor(self, bits: int, signed: bool) -> float:
        """A real scale's ``step = clip / step_divisor``: by default the largest code,
        ``2**(bits-1) - 1`` signed, ``2**bits - 1`` unsigned."""
        return float(self.code_limits(bits, signed)[1])

    def code_limits(self, bits: int, signed: bool) -> tuple[int, int]:
        """``(code_min, code_max)``: symmetric by default (see :func:`symmetric_codes`)."""
        return symmetric_codes(bits, signed)

    def scale_for(self, clip: float, bits: int, signed: bool,
                  reported_clip: float | None = None) -> Scale:
        """The Scale for clipping value ``clip > 0``, by the rule's ``scale`` parameter: pow2
        takes ``frac`` from :func:`~fxsim.ranges.scale.pow2_frac` with
        :meth:`magnitude_bits`, real takes ``step = clip / step_divisor``.
        ``reported_clip`` (default ``clip``) goes to ``Scale.clip``."""
        code_min, code_max = self.code_limits(bits, signed)
        reported = clip if reported_clip is None else reported_clip
        if self.params["scale"] == "pow2":
            frac = pow2_frac(clip, self.magnitude_bits(bits, signed))
            return Scale(frac, None, reported, code_min, code_max)
        step = real_step(clip, self.step_divisor(bits, signed))
        return Scale(None, step, reported, code_min, code_max)

    # --- adapting and checkpointing -------------------------------------------------------

    def observe(self, values: np.ndarray, scale: Scale, largest: float | None = None) -> None:
        """Update the rule's state after a step in which ``values`` were quantized with
        ``scale`` (the Scale :meth:`choose` returned for them; ``largest`` as there). No-op
        for stateless rules."""
        return None

    def state_dict(self) -> dict:
        """``{"rule": name, "params": {...}, "state": {...}}``, JSON-able: floats in the state
        are ``float.hex`` strings, parameters plain JSON values (which round-trip exactly)."""
        return {"rule": self.name, "params": dict(self.params), "state": self._state()}

    def load_state_dict(self, state: Mapping) -> None:
        """Restore what :meth:`state_dict` saved. The saved rule name and parameters must
        equal this rule's (a resumed run that changed them would not be the same run)."""
        if not isinstance(state, Mapping) or set(state) != {"rule", "params", "state"}:
            raise ValueError(
                "state must be a dict with keys 'rule', 'params', 'state' (from state_dict), "
                f"got {state!r}"
            )
        if state["rule"] != self.name:
            raise ValueError(f"state is of range rule {state['rule']!r}, not {self.name!r}")
        if state["params"] != self.params:
            raise ValueError(
                f"state was saved with parameters {state['params']!r}; this {self.name!r} rule "
                f"has {self.params!r}"
            )
        self._load_state(state["state"])

    def _state(self) -> dict:
        return {}

    def _load_state(self, state: Mapping) -> None:
        if state:
            raise ValueError(f"range rule {self.name!r} keeps no state, got {state!r}")


_RULES: dict[str, type[RangeRule]] = {}


def register(cls: type[RangeRule]) -> type[RangeRule]:
    """Class decorator: make ``cls`` available to :func:`make_rule` under ``cls.name``."""
    _RULES[cls.name] = cls
    return cls


def rule_class(name: str) -> type[RangeRule]:
    """The class registered as ``name``, or a ValueError listing the rules."""
    if name not in _RULES:
        raise ValueError(f"unknown range rule {name!r}; the rules are: {', '.join(_RULES)}")
    return _RULES[name]


def make_rule(name: str, **params: object) -> RangeRule:
    """A new rule ``name`` with ``params`` over its defaults (:func:`rule_parameters`).

    Unknown name, unknown parameter, a value not allowed or a required parameter missing:
    ValueError naming it, the value given and what is allowed.
    """
    return rule_class(name)(**params)


def rule_parameters(name: str) -> dict[str, object]:
    """``{parameter: default}`` of rule ``name``; :data:`REQUIRED` marks one without default."""
    return {key: param.default for key, param in rule_class(name).PARAMS.items()}


def rule_parameter_help(name: str) -> dict[str, str]:
    """``{parameter: what values are allowed}`` of rule ``name``."""
    return {key: param.allowed for key, param in rule_class(name).PARAMS.items()}


def registered_rules() -> tuple[str, ...]:
    return tuple(_RULES)

