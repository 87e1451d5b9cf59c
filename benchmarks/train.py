"""Training-step throughput and peak memory: one step (forward, loss, backward, optimizer step)
of a reference net on random data, per policy, as ratios against baselines timed in the same run.

    python benchmarks/train.py [--net resnet20|digits_cnn] [--batch 128] [--steps 3]
        [--warmup 1] [--policy int8 [--policy sr8 ...]] [--threads N] [--no-torch]
        [--breakdown]

Baselines: the ``fp`` policy of the same engine (float64 through the same layers and kernels)
and, when ``torch`` can be imported, PyTorch fp32 (the same net built from ``torch.nn``: option-A
shortcuts, SGD with momentum 0.9 and weight decay 5e-4, ``torch.set_num_threads(threads)``).
Data: CIFAR-10-shaped (or 8x8 digits-shaped) standard-normal images and uniform labels.

Every configuration runs in its own child process (``sys.executable``), one after another, so
each one's peak memory is its own: the peak resident set size (``resource.getrusage
(RUSAGE_SELF).ru_maxrss``, which counts numpy, numba and BLAS buffers alike), also shown as
the growth over the resident set after building the net and the data ("step"). Timing: after
``--warmup`` untimed steps (the first loads or compiles the numba kernels), ``--steps`` timed
steps; images per second are ``batch / median step time`` (the best step is printed too, and
the median CPU time of the process per step, all threads, ``time.process_time``: wall time well
above CPU time / threads means the process waited for a core). The
machine's load average is printed before and after each configuration: these machines are
shared and noisy, so compare ratios from one run.

``--threads`` (default: all cores) sets ``NUMBA_NUM_THREADS`` and ``OPENBLAS_NUM_THREADS``
(``--blas-threads`` if given) of the fxsim children unless they are set in the environment, and
``torch.set_num_threads``.
Policies with class groups (``cdmp``) run with the batch split in two halves, the second in
the easy group (the policy's cost-model share of 0.5).

``--breakdown`` also times, per fxsim policy, where a step's time goes (exclusive wall and CPU
time, mean per timed step, sorted by CPU time, the steadier of the two on a loaded machine), in
two tables. By component: the conv products' parts (operand checks, exactness plan,
im2col/col2im, layout and dtype copies, the GEMM per dtype), the quantizers (range statistics,
requantize or quantize kernels, the rest of the call), batch norm, residual adds, shortcuts, the
loss, the optimizer, and what is left (Python glue between them). By conv product and stage
(forward, backward_input, backward_weight of ``conv1``, ``s1``, ``s2``, ``s3``, ``fc``):
everything inside that product.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCOPE = " @ "  # between a breakdown label and the conv product it ran in
MAC_SELF = "mac: operand checks, int64 results"  # a conv product's own time
NETS = ("resnet20", "digits_cnn")
INPUT_SHAPES = {"resnet20": (3, 32, 32), "digits_cnn": (1, 8, 8)}
CLASSES = 10
LR, MOMENTUM, WEIGHT_DECAY, SEED = 0.05, 0.9, 5e-4, 0


def random_batches(net: str, batch: int, count: int = 2):
    """``count`` (images float64 NCHW, labels int64) pairs, fixed by the seed."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    shape = (batch, *INPUT_SHAPES[net])
    return [(rng.standard_normal(shape), rng.integers(0, CLASSES, batch)) for _ in range(count)]


def rss_kib() -> int:
    """Peak resident set size of this process so far, KiB (Linux ``ru_maxrss``)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# ---- exclusive-time breakdown (--breakdown) -----------------------------------------------------
class ExclusiveTimer:
    """Exclusive (self) wall and CPU time per label of nested wrapped calls: time spent inside a
    wrapped call that another wrapped call nested in it takes is charged to the inner label only.
    CPU time is the process's (``time.process_time``: every thread, numba's and BLAS's too).
    A call wrapped with a ``scope`` (a conv product of one stage) also tags the time of every
    call nested in it: totals are kept per ``"label" + SCOPE + "scope"`` key."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._stack: list[list] = []
        self._scopes: list[str] = []

    @contextmanager
    def section(self, label: str, scope: str | None = None):
        if scope is not None:
            self._scopes.append(scope)
        key = label + SCOPE + (self._scopes[-1] if self._scopes else "")
        frame = [0.0, 0.0]  # wall and CPU time of the sections nested in this one
        self._stack.append(frame)
        start, cpu_start = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
            self._stack.pop()
            if scope is not None:
                self._scopes.pop()
            self.wall[key] += wall - frame[0]
            self.cpu[key] += cpu - frame[1]
            self.calls[key] += 1
            if self._stack:
                self._stack[-1][0] += wall
                self._stack[-1][1] += cpu

    def wrap(self, owner, attr: str, label, scope=None) -> None:
        """Replace ``owner.attr`` (a function or method; a dict entry when ``owner`` is a dict)
        by a timed one. ``label`` and ``scope`` are strings or functions of the call's
        arguments giving one."""
        dict_entry = isinstance(owner, dict)
        original = owner[attr] if dict_entry else getattr(owner, attr)
        timer = self

        def timed(*args, **kwargs):
            name = label(*args) if callable(label) else label
            where = scope(*args) if callable(scope) else scope
            with timer.section(name, where):
                return original(*args, **kwargs)

        timed.__wrapped__ = original
        if dict_entry:
            owner[attr] = timed
        else:
            setattr(owner, attr, timed)


def stage_of(layer_name: str) -> str:
    """``s2`` for ``s2b0_conv1``, else the name itself (``conv1``, ``fc``, ``l1_conv``)."""
    return layer_name[:2] if layer_name[:1] == "s" and layer_name[1:2].isdigit() else layer_name


def install_breakdown(timer: ExclusiveTimer) -> None:
    """Wrap the engine's components (module and class attributes looked up at call time)."""
    from fxsim.layers import base, mac, norm, quantizer, residual, simple
    from fxsim.ops import _engine, _engine_int8, _mac
    from fxsim.ranges.base import RangeRule
    from fxsim.training import network
    from fxsim.training.optim import SGD

    for cls in (mac.Conv2d, mac.Linear):
        for attr, product in (("product", "forward"), ("product_input", "backward_input"),
                              ("product_weight", "backward_weight")):
            if attr in cls.__dict__:
                timer.wrap(cls, attr, MAC_SELF,
                           lambda layer, *_, p=product: f"{p} {stage_of(layer.name)}")
    engines = {op: engine for op, (engine, _) in _mac.PRODUCTS.items()}
    for op in engines:
        timer.wrap(engines, op, "mac: product kernels (flat frames)")
        _mac.PRODUCTS[op] = (engines[op], _mac.PRODUCTS[op][1])
        timer.wrap(_mac.BYTE_PRODUCTS, op, "mac: product kernels (flat frames)")
    timer.wrap(_mac, "plan_mac", "mac: exactness plan (max|code| scans)")
    timer.wrap(_mac, "accumulator_result", "mac: result wrapping")
    timer.wrap(_engine, "_source", "mac: operand dtype conversion")
    for attr in ("unsigned_side", "signed_side"):
        timer.wrap(_engine_int8, attr, "mac: operand dtype conversion")
    timer.wrap(_engine, "_weights", "mac: weight gather")
    timer.wrap(_engine_int8, "_packed_weights", "mac: weight gather")
    timer.wrap(quantizer.TensorQuantizer, "__call__",
               lambda q, *_: f"quantizer {q.where.split('.')[1]}: rest (clamp, counts)")
    timer.wrap(quantizer, "requantize", "quantizer: requantize kernel (codes)")
    timer.wrap(quantizer, "quantize", "quantizer: quantize kernel (floats)")
    timer.wrap(quantizer, "max_abs", "quantizer: range statistics")
    rules = [RangeRule]
    while rules:
        cls = rules.pop()
        rules.extend(cls.__subclasses__())
        for attr in ("choose", "observe"):
            if attr in cls.__dict__:
                timer.wrap(cls, attr, "quantizer: range statistics")
    timer.wrap(quantizer, "log2_histogram", "quantizer: gradient histogram")
    for module in (mac, norm):
        timer.wrap(module, "ste", "straight-through masks")
    timer.wrap(base, "quantize", "input quantizer")
    timer.wrap(norm.BatchNorm2d, "forward", "batch norm forward (float64)")
    timer.wrap(norm.BatchNorm2d, "backward", "batch norm backward (float64)")
    timer.wrap(residual.arith, "add", "exact adds (residual, group sums)")
    for attr in ("forward", "backward"):
        timer.wrap(residual.ShortcutA, attr, "shortcut A (subsample, pad)")
        timer.wrap(simple.GlobalAvgPool2d, attr, "pooling")
        timer.wrap(simple.MaxPool2d, attr, "pooling")
    timer.wrap(network, "softmax_cross_entropy", "loss (float64)")
    timer.wrap(SGD, "step", "optimizer step")


# ---- one configuration, in a child process -------------------------------------------------------
def run_fxsim(policy_name: str, args) -> dict:
    from fxsim.layers import Context
    from fxsim.policy import Policy
    from fxsim.training.network import Network
    from fxsim.training.optim import SGD
    from reference_nets import build_net

    policy = Policy.load(policy_name)
    net = Network(build_net(args.net), INPUT_SHAPES[args.net], CLASSES, policy, SEED)
    optimizer = SGD(net.params, MOMENTUM, WEIGHT_DECAY)
    batches = random_batches(args.net, args.batch)
    groups = (0,)
    if policy.class_difficulty is not None:
        groups = (0, policy.group_names.index(policy.class_difficulty["easy_group"]))
    half = args.batch // 2

    def step(index: int) -> float:
        x, y = batches[index % len(batches)]
        xs, ys = ([x[:half], x[half:]], [y[:half], y[half:]]) if len(groups) > 1 else ([x], [y])
        loss, _ = net.train_step(xs, ys, Context(SEED, index, True, groups))
        optimizer.step(LR, SEED, index)
        return loss

    timer = ExclusiveTimer() if args.breakdown else None
    return measure(step, args, timer)


def run_torch(args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    model = torch_net(torch, args.net)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM,
                                weight_decay=WEIGHT_DECAY)
    loss_fn = torch.nn.CrossEntropyLoss()
    batches = [(torch.from_numpy(x).float(), torch.from_numpy(y))
               for x, y in random_batches(args.net, args.batch)]
    model.train()

    def step(index: int) -> float:
        x, y = batches[index % len(batches)]
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return float(loss)

    result = measure(step, args, None)
    result["torch"] = torch.__version__
    result["torch_threads"] = torch.get_num_threads()
    return result


def torch_net(torch, net: str):
    """The reference net in ``torch.nn`` (fp32), the same shapes as ``reference_nets``."""
    nn = torch.nn

    def conv_bn(cin: int, cout: int, stride: int = 1) -> list:
        return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)]

    if net == "digits_cnn":
        return nn.Sequential(*conv_bn(1, 16), nn.ReLU(), *conv_bn(16, 32), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 4 * 4, CLASSES))

    class Block(nn.Module):
        """He et al.'s basic block; option A: subsample and append zero channels."""

        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.branch = nn.Sequential(*conv_bn(cin, cout, stride), nn.ReLU(),
                                        *conv_bn(cout, cout))
            self.stride, self.extra = stride, cout - cin

        def forward(self, x):
            short = x
            if self.stride != 1 or self.extra:
                short = nn.functional.pad(x[:, :, ::self.stride, ::self.stride],
                                          (0, 0, 0, 0, 0, self.extra))
            return nn.functional.relu(self.branch(x) + short)

    layers: list = [*conv_bn(3, 16), nn.ReLU()]
    cin = 16
    for stage, cout in enumerate((16, 32, 64)):
        for block in range(3):
            layers.append(Block(cin, cout, 2 if stage and not block else 1))
            cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, CLASSES)]
    return nn.Sequential(*layers)


def measure(step, args, timer: ExclusiveTimer | None) -> dict:
    """Warm-up steps, then timed steps; memory and losses."""
    setup_kib = rss_kib()
    losses = [step(i) for i in range(args.warmup)]
    if timer is not None:
        install_breakdown(timer)
    times, cpu_times = [], []
    for i in range(args.warmup, args.warmup + args.steps):
        start, cpu_start = time.perf_counter(), time.process_time()
        losses.append(step(i))
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    result = {"times": times, "cpu_times": cpu_times, "losses": losses, "setup_kib": setup_kib,
              "peak_kib": rss_kib()}
    if timer is not None:
        result["breakdown"] = {k: (v / args.steps, timer.cpu[k] / args.steps)
                               for k, v in timer.wall.items()}
        result["calls"] = {k: v // args.steps for k, v in timer.calls.items()}
    return result


def worker(args) -> None:
    engine, _, policy = args.worker.partition(":")
    result = run_torch(args) if engine == "torch" else run_fxsim(policy, args)
    if engine == "fxsim":
        import numba

        result["numba_threads"] = numba.get_num_threads()
    print(json.dumps(result))


# ---- the parent: run every configuration and print the table -----------------------------------
def child(config: str, args) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.setdefault("NUMBA_NUM_THREADS", str(args.threads))
    env.setdefault("OPENBLAS_NUM_THREADS", str(args.blas_threads or args.threads))
    command = [sys.executable, __file__, "--worker", config, "--net", args.net, "--batch",
               str(args.batch), "--steps", str(args.steps), "--warmup", str(args.warmup),
               "--threads", str(args.threads)] + (["--breakdown"] if args.breakdown else [])
    out = subprocess.run(command, env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{config} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def load() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def print_breakdown(config: str, result: dict) -> None:
    """Two tables: time per component (all conv products together), then per conv product and
    stage (everything inside it: checks, im2col/col2im, GEMM, layout copies)."""
    by_label: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    by_scope: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    for key, (wall_s, cpu_s) in result["breakdown"].items():
        label, _, scope = key.partition(SCOPE)
        calls = result["calls"][key]
        for table, name in ((by_label, label), (by_scope, scope)):
            if name:
                table[name][0] += wall_s
                table[name][1] += cpu_s
                table[name][2] += calls if table is by_label or label == MAC_SELF else 0
    wall, cpu = statistics.mean(result["times"]), statistics.mean(result["cpu_times"])
    by_label["rest: Python glue, list/FxArray plumbing"] = [
        max(0.0, wall - sum(w for w, _, _ in by_label.values())),
        max(0.0, cpu - sum(c for _, c, _ in by_label.values())), ""]
    print(f"\n{config}: exclusive time per step (mean of {len(result['times'])} steps: wall "
          f"{wall:.2f} s, CPU {cpu:.2f} s)")
    for title, table in (("component", by_label), ("conv/linear product, stage", by_scope)):
        print(f"  {title:<52}{'wall s':>8}{'%':>6}{'CPU s':>8}{'%':>6}{'calls':>6}")
        for name, (w, c, calls) in sorted(table.items(), key=lambda kv: -kv[1][1]):
            print(f"  {name:<52}{w:8.3f}{100 * w / wall:6.1f}{c:8.3f}{100 * c / cpu:6.1f}"
                  f"{calls:>6}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--net", choices=NETS, default="resnet20")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=3, help="timed steps (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (default 1)")
    parser.add_argument("--policy", action="append", default=None,
                        help="fxsim policy to time (repeatable; default int8); fp is always "
                             "timed as the baseline")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--blas-threads", type=int, default=None,
                        help="OPENBLAS_NUM_THREADS of the fxsim children (default: --threads)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch baseline")
    parser.add_argument("--breakdown", action="store_true",
                        help="also print where each fxsim step's time goes")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    for name in ("batch", "steps", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.blas_threads is not None and args.blas_threads < 1:
        parser.error(f"--blas-threads must be >= 1, got {args.blas_threads}")
    if args.warmup < 0:
        parser.error(f"--warmup must be >= 0, got {args.warmup}")
    if args.worker:
        worker(args)
        return

    configs = ["fxsim:fp"] + [f"fxsim:{p}" for p in dict.fromkeys(args.policy or ["int8"])
                              if p != "fp"]
    has_torch = importlib.util.find_spec("torch") is not None
    if has_torch and not args.no_torch:
        configs.insert(0, "torch:fp32")
    blas = os.environ.get("OPENBLAS_NUM_THREADS", args.blas_threads or args.threads)
    numba_threads = os.environ.get("NUMBA_NUM_THREADS", args.threads)
    print(f"{args.net}, batch {args.batch}, {os.cpu_count()} cores: torch {args.threads} threads, "
          f"fxsim NUMBA_NUM_THREADS={numba_threads} OPENBLAS_NUM_THREADS={blas}; "
          f"{args.warmup} warm-up + {args.steps} timed steps, img/s of the median step; peak "
          "RSS = ru_maxrss of each child process")
    if not has_torch:
        print("(torch not importable in this Python: no PyTorch column)")
    results = {}
    for config in configs:
        before = load()
        results[config] = child(config, args)
        results[config]["load"] = f"{before} -> {load()}"
    ref_torch = results.get("torch:fp32")
    ref_fp = results["fxsim:fp"]

    def rate(r: dict) -> float:
        return args.batch / statistics.median(r["times"])

    header = (f"{'config':<22}{'median s':>9}{'best s':>8}{'cpu s':>7}{'img/s':>8}{'x torch':>8}"
              f"{'x fp':>7}{'peak MB':>9}{'step MB':>8}  load 1/5/15 min before -> after")
    print(header)
    for config, r in results.items():
        vs_torch = f"{rate(r) / rate(ref_torch):8.3f}" if ref_torch else f"{'-':>8}"
        peak, step_mb = r["peak_kib"] / 1024, (r["peak_kib"] - r["setup_kib"]) / 1024
        print(f"{config:<22}{statistics.median(r['times']):9.3f}{min(r['times']):8.3f}"
              f"{statistics.median(r['cpu_times']):7.2f}{rate(r):8.1f}{vs_torch}"
              f"{rate(r) / rate(ref_fp):7.3f}{peak:9.0f}{step_mb:8.0f}  {r['load']}")
    bad = [c for c, r in results.items() if not all(math.isfinite(v) for v in r["losses"])]
    if bad:
        print(f"non-finite loss in {', '.join(bad)}")
    if args.breakdown:
        for config, r in results.items():
            if "breakdown" in r:
                print_breakdown(config, r)


if __name__ == "__main__":
    main()
