"""Rounding rules written by users: the registry, the exact form a rule receives, and the loading
of the modules that define rules.

A rule is a numpy function of the *exact* value to round. For each element, the real ``y`` in
LSB units (``x * 2**frac`` exactly, ``x / step`` in float64 with a real step, or a code times
``2**-shift`` in :func:`fxsim.requantize`) is given to the rule as three arrays:

=========  ====================================================================================
``q``      int64, ``floor(y)``. ``y < 0`` exactly when ``q < 0``.
``f``      int64 in ``[0, 2**62)``: the dropped fraction ``y - q`` truncated to
           :data:`FRACTION_BITS` = 62 bits, ``f = floor((y - q) * 2**62)``.
``sticky`` bool: True when bits below those 62 were dropped too, that is when ``(y - q) * 2**62``
           is not an integer; then ``f / 2**62 < y - q < (f + 1) / 2**62``.
=========  ====================================================================================

So ``y`` is an integer iff ``f == 0 and not sticky``; a tie (``y = q + 1/2``) iff ``f == HALF and
not sticky``; above the tie iff ``f > HALF or (f == HALF and sticky)``, with ``HALF = 2**61``.
This is the guard-bits-plus-sticky-bit view of a hardware rounding unit: the first dropped bit
is ``f >> 61``, the top ``k`` dropped bits are ``f >> (62 - k)``. ``sticky`` is True only for
``|y| < 1/2`` (``q`` is 0 or -1): what fxsim rounds (a float64's 53-bit mantissa, or a code
below ``2**62``, times a power of two) has at most 62 fraction bits from ``1/2`` up. It matters
for tiny values: ``y = 2**-70`` has ``q = 0, f = 0, sticky = True``, so a ceiling must test
``(f != 0) | sticky``.

A rule with ``random_bits = k`` (1..62) also receives ``r``: int64 uniform in ``[0, 2**k)``, the
top ``k`` bits of the element's word of the counter-based generator keyed by ``(seed, stream,
flat element index)`` (:mod:`fxsim.numeric.rng`), the same bits the built-in ``stochastic_k``
uses. Results therefore depend on nothing but the element's value and index: not on thread
count, chunking or array size.

The rule returns the rounded integer of each element (an integer array of the same shape).
Overflow handling comes after, as for the built-in modes: ``saturate`` clamps to the format's
range (or ``clip``), ``wrap`` keeps the low ``bits`` bits, and out-of-range results are counted
in ``stats``. NaN and +-inf are handled by fxsim as for the built-ins (NaN is refused or maps to
code 0; +-inf saturates), and so are values with ``|y| >= 2**62``: these are integers outside
every format (62 bits at most), so the rule is not called for them (their positions in the
arrays hold ``q = f = 0`` and the result there is ignored); they saturate, or wrap keeping their
low bits.

The rule is applied to blocks of at most :data:`BLOCK` elements at a time, possibly from several
threads at once: it must be element-wise (element ``i`` of the result depends only on element
``i`` of the inputs), or results will depend on the thread count
(:func:`fxsim.testing.check_thread_independent` catches that).

Compilation: on first use fxsim tries ``numba.njit(fn, nogil=True)`` on the arrays above
(``compile=None``, the default); if numba cannot compile the function it runs as plain numpy.
``compile=True`` makes a failure an error, ``compile=False`` never tries.
:attr:`RoundingRule.compiled` tells which (None before the first use).

Finding a rule in a fresh process (a training run started by ``fxsim train``, a resumed run, a
sweep worker, the cost model): a policy lists the modules that register its rules in its
top-level ``rounding_modules`` (dotted module names, importable from where fxsim runs, or paths
to ``.py`` files, relative to the policy file); ``fxsim check-rounding`` takes
``--rounding-module``. Importing such a module runs its code: load only policies you trust.

This module imports nothing compiled: registering a rule and reading a policy that names one
load no numba (the cost model relies on it).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fxsim.numeric.rounding import (
    DIRECTED_MODES,
    NEAREST_MODES,
    ROUNDING_ALIASES,
    ROUNDING_IDS,
    STOCHASTIC_BITS,
    STOCHASTIC_MODES,
)

FRACTION_BITS = 62
"""Bits of the dropped fraction ``f`` a rule receives: ``0 <= f < 2**FRACTION_BITS``."""
ONE = 1 << FRACTION_BITS
"""``f``'s scale: the fraction is ``f / ONE`` (plus less than ``1 / ONE`` when ``sticky``)."""
HALF = 1 << (FRACTION_BITS - 1)
"""``f`` of a tie: ``y - floor(y) == 1/2`` exactly iff ``f == HALF and not sticky``."""
BLOCK = 1 << 14
"""Most elements a rule is called with at once."""
TIE_RULES = ("even", "odd", "away", "zero", "up", "down")
"""The tie rules a rule may declare (``ties=``): ``y = n + 1/2`` rounds to the even or odd one of
``n, n + 1``, away from zero, toward zero, up (toward +inf) or down (toward -inf)."""
MODULES_KEY = "rounding_modules"

_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


@dataclass(eq=False)
class RoundingRule:
    """A registered rounding rule (see the module docstring for what ``fn`` receives).

    ``name``: how policies and :func:`fxsim.quantize` call it; ``fn``: the numpy function;
    ``random_bits``: bits of the random integer ``r`` it takes (0: a deterministic rule, called
    as ``fn(q, f, sticky)``; else ``fn(q, f, sticky, r)``); ``ties``: the tie rule it means to
    follow (one of :data:`TIE_RULES`, or None), which :mod:`fxsim.testing` checks;
    ``cost_as``: the built-in mode whose rounding unit the cost model prices it as (None: the
    cost model refuses to price it); ``source``: where it was registered (for messages).
    """

    name: str
    fn: Callable
    random_bits: int = 0
    ties: str | None = None
    cost_as: str | None = None
    compile: bool | None = None
    source: str = ""
    compiled: bool | None = field(default=None, init=False)
    compile_error: str = field(default="", init=False)
    _impl: Callable | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def is_random(self) -> bool:
        return self.random_bits > 0

    def describe(self) -> str:
        """One line: name, random bits, tie rule, how it runs, where it comes from."""
        parts = [f"rounding rule {self.name!r}"]
        parts.append(f"{self.random_bits} random bits" if self.random_bits else "deterministic")
        if self.ties:
            parts.append(f"ties {self.ties}")
        if self.compiled is not None:
            parts.append("numba-compiled" if self.compiled else
                         f"plain numpy ({self.compile_error or 'compile=False'})")
        if self.source:
            parts.append(f"registered in {self.source}")
        return ", ".join(parts)


_REGISTRY: dict[str, RoundingRule] = {}
_LOADED: dict[str, str] = {}  # module spec (resolved) -> module name in sys.modules
_LOAD_LOCK = threading.RLock()


def _same_code(a: Callable, b: Callable) -> bool:
    code_a, code_b = getattr(a, "__code__", None), getattr(b, "__code__", None)
    return (a is b or (code_a is not None and code_b is not None
                       and code_a.co_code == code_b.co_code
                       and code_a.co_consts == code_b.co_consts
                       and code_a.co_names == code_b.co_names))


def _check_arity(name: str, fn: Callable, random_bits: int) -> None:
    wanted = 4 if random_bits else 3
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # a builtin or numba dispatcher: trust the caller
        return
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind == p.VAR_POSITIONAL for p in params) or len(positional) == wanted:
        return
    call = "fn(q, f, sticky, r)" if random_bits else "fn(q, f, sticky)"
    raise TypeError(f"rounding rule {name!r}: with random_bits={random_bits} fxsim calls {call}; "
                    f"{getattr(fn, '__name__', fn)!r} takes {len(positional)} positional "
                    "arguments")


def _check_cost_as(name: str, cost_as: str | None, random_bits: int) -> str | None:
    if cost_as is None:
        return None
    cost_as = ROUNDING_ALIASES.get(cost_as, cost_as)
    allowed = STOCHASTIC_MODES if random_bits else (*NEAREST_MODES, *DIRECTED_MODES)
    if cost_as not in allowed:
        kind = "a random" if random_bits else "a deterministic"
        raise ValueError(f"rounding rule {name!r}: cost_as must be a built-in mode for {kind} "
                         f"rule, one of {', '.join(allowed)}; got {cost_as!r}")
    return cost_as


def register_rounding(name: str, fn: Callable, *, random_bits: int = 0,
                      ties: str | None = None, cost_as: str | None = None,
                      compile: bool | None = None, replace: bool = False) -> RoundingRule:
    """Register the rounding rule ``fn`` as mode ``name``, usable wherever a built-in mode is.

    Parameters
    ----------
    name : str
        Lower-case letters, digits and ``_``, starting with a letter; not a built-in mode.
    fn : callable
        ``fn(q, f, sticky)`` (deterministic) or ``fn(q, f, sticky, r)`` (``random_bits > 0``) on
        numpy arrays: ``q`` int64 ``floor(y)``, ``f`` int64 the dropped fraction in units of
        ``2**-62``, ``sticky`` bool (bits below ``2**-62`` dropped), ``r`` int64 uniform in
        ``[0, 2**random_bits)``; returns the rounded integers (any integer dtype, same shape),
        before overflow handling. See :mod:`fxsim.numeric.user_rounding` for the exact
        semantics, ties, overflow and NaN.
    random_bits : int
        0 for a deterministic rule, else 1..62: the bits of ``r``.
    ties : str or None
        The tie rule the rule means to follow, one of :data:`TIE_RULES`; ``fxsim.testing``
        checks it.
    cost_as : str or None
        The built-in mode whose hardware unit the cost model prices the rule as: a deterministic
        mode for a deterministic rule; ``stochastic_k`` (with this rule's ``random_bits``) or
        ``stochastic`` for a random one. None: the cost model refuses to price it and says so.
    compile : bool or None
        None: try ``numba.njit`` on first use, falling back to numpy; True: require it (an
        error if numba cannot compile ``fn``); False: always numpy.
    replace : bool
        Replace a rule of the same name registered with another function (registering the
        same function again, for example when its module is imported twice, is always
        allowed).

    Returns
    -------
    RoundingRule
        The registered rule.
    """
    from fxsim.numeric.formats import check_int

    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError("rounding rule name must be lower-case letters, digits and _, "
                         f"starting with a letter; got {name!r}")
    if name in ROUNDING_IDS or name in ROUNDING_ALIASES:
        raise ValueError(f"rounding rule name {name!r} is a built-in mode; choose another name")
    if not callable(fn):
        raise TypeError(f"rounding rule {name!r}: fn must be callable, got {fn!r}")
    random_bits = check_int("random_bits", random_bits, 0, STOCHASTIC_BITS)
    if ties is not None and ties not in TIE_RULES:
        raise ValueError(f"rounding rule {name!r}: ties must be one of {', '.join(TIE_RULES)} "
                         f"or None; got {ties!r}")
    if compile not in (None, True, False):
        raise ValueError(f"rounding rule {name!r}: compile must be None, True or False, got "
                         f"{compile!r}")
    _check_arity(name, fn, random_bits)
    cost_as = _check_cost_as(name, cost_as, random_bits)
    source = getattr(fn, "__module__", "") or ""
    module = sys.modules.get(source)
    source = getattr(module, "__file__", None) or source
    rule = RoundingRule(name, fn, random_bits, ties, cost_as, compile, str(source))
    old = _REGISTRY.get(name)
    if old is not None and not replace and not (
            _same_code(old.fn, fn) and (old.random_bits, old.ties, old.cost_as, old.compile)
            == (random_bits, ties, cost_as, compile)):
        raise ValueError(f"rounding rule {name!r} is already registered (in {old.source or '?'})"
                         " with another function or settings; pass replace=True to replace it")
    _REGISTRY[name] = rule
    return rule


def unregister_rounding(name: str) -> None:
    """Forget the registered rule ``name`` (a KeyError if there is none)."""
    if name not in _REGISTRY:
        raise KeyError(f"no registered rounding rule {name!r}")
    del _REGISTRY[name]


def registered_rounding(name: object) -> RoundingRule | None:
    """The rule registered as ``name``, or None (built-in modes and unknown names)."""
    return _REGISTRY.get(name) if isinstance(name, str) else None


def registered_names() -> tuple[str, ...]:
    """The names of the registered rules, in registration order."""
    return tuple(_REGISTRY)


def is_module_path(spec: str) -> bool:
    """Whether a rounding-module ``spec`` names a ``.py`` file (else an importable module)."""
    return spec.endswith(".py") or "/" in spec or "\\" in spec


def load_rounding_module(spec: str, base: str | Path | None = None) -> str:
    """Import the module ``spec`` so that the rules it registers become known; returns the
    resolved spec (an absolute path for a file, else the module name).

    ``spec`` is a dotted module name (imported with :func:`importlib.import_module`: it must be
    importable from where fxsim runs) or the path of a ``.py`` file (relative paths are taken
    from ``base``, default the current directory). Each module is imported once per process;
    a file already imported under another name (``import rules`` in the user's script) is not
    imported again.
    """
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"a rounding module must be a module name or a .py path, got {spec!r}")
    is_path = is_module_path(spec)
    with _LOAD_LOCK:
        if not is_path:
            try:
                importlib.import_module(spec)
            except ImportError as error:
                raise ImportError(f"rounding module {spec!r} cannot be imported ({error}); give "
                                  "the path of its .py file instead, or install it") from None
            return spec
        path = Path(spec).expanduser()
        path = (Path(base) / path if base is not None and not path.is_absolute() else path)
        path = path.resolve()
        key = str(path)
        if key in _LOADED:
            return key
        if not path.is_file():
            raise FileNotFoundError(f"rounding module {spec!r}: no such file {path}")
        for module in list(sys.modules.values()):
            file = getattr(module, "__file__", None)
            if file and Path(file).resolve() == path:
                _LOADED[key] = module.__name__
                return key
        digest = hashlib.sha256(key.encode()).hexdigest()[:12]
        module_name = f"fxsim_rounding_{re.sub(r'[^0-9a-zA-Z_]', '_', path.stem)}_{digest}"
        loader_spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[module_name] = module
        try:
            loader_spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module_name]
            raise
        _LOADED[key] = module_name
        return key


def load_rounding_modules(where: str, specs: object, base: str | Path | None = None
                          ) -> list[str]:
    """:func:`load_rounding_module` for each of ``specs`` (a list of strings); errors name
    ``where`` (a policy). Returns the resolved specs."""
    if not isinstance(specs, list) or not all(isinstance(s, str) and s for s in specs):
        raise ValueError(f"{where}: {MODULES_KEY} must be a list of module names or .py paths, "
                         f"got {specs!r}")
    resolved = []
    for spec in specs:
        try:
            resolved.append(load_rounding_module(spec, base))
        except (ImportError, FileNotFoundError, ValueError) as error:
            raise ValueError(f"{where}: {error}") from None
    return resolved
