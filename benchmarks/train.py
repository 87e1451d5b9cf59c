"""Training-step throughput and peak memory: one step (forward, loss, backward, optimizer step)
of a reference net on random data, per policy, as ratios against baselines timed in the same run.

    python benchmarks/train.py [--net resnet20|digits_cnn] [--batch 128] [--steps 3]
        [--warmup 1] [--repeat 1] [--policy int8 [--policy sr8 ...]] [--threads N]
        [--no-torch] [--breakdown]

Baselines: the ``fp`` policy of the same engine (float64 through the same layers and kernels)
and, when ``torch`` can be imported, PyTorch fp32 (the same net built from ``torch.nn``: option-A
shortcuts, SGD with momentum 0.9 and weight decay 5e-4, ``torch.set_num_threads(threads)``).
Data: CIFAR-10-shaped (or 8x8 digits-shaped) standard-normal images and uniform labels.

Every configuration runs in its own child process (``sys.executable``), one after another, so
each one's peak memory is its own: the peak resident set size (``resource.getrusage
(RUSAGE_SELF).ru_maxrss``, which counts numpy, numba and BLAS buffers alike), also shown as the
growth over the resident set after building the net and the data ("step"). Timing: after
``--warmup`` untimed steps (the first loads or compiles the numba kernels), ``--steps`` timed
steps; images per second are ``batch / median step time`` (the best step is printed too, and the
median CPU time per step: PyTorch's is the process's, ``time.process_time``, which includes its
OpenMP threads' spinning; fxsim's is the main thread's CPU time less its spinning plus the time
its pool's workers spent running parts (``_breakdown.working_cpu``), and the seconds spent
spinning while waiting for work are shown apart as ``spin s``. Wall time well above CPU time /
threads means the process waited for a core; the ``cpu/wall`` column is that ratio). The
machine's load average is printed at the start and before and after each configuration: these
machines are shared and noisy, so compare ratios from one run, and use ``--repeat N`` to run
every configuration N times taking turns (each repetition's table, then the median and range of
every ratio over the repetitions). Ratios are images per second over the baseline's: ``x torch``
(PyTorch fp32), ``x fp``, and ``x int8`` when int8 is timed (the other policies' speed relative
to it).

``--threads`` (default: all cores) sets ``NUMBA_NUM_THREADS`` and ``OPENBLAS_NUM_THREADS``
(``--blas-threads`` if given) of the fxsim children unless they are set in the environment, and
``torch.set_num_threads``.
Policies with class groups (``cdmp``) run with the batch split in two halves, the second in
the easy group (the policy's cost-model share of 0.5).

``--breakdown`` also times, per fxsim policy (in the last repetition), where a step's time
goes (exclusive wall and CPU time, mean per timed step, sorted by CPU time, the steadier of the
two on a loaded machine, and their ratio, each component's parallel efficiency), in two tables
(:mod:`_breakdown`). By component: the conv products' parts (operand checks, exactness plan,
dtype conversions, weight tables, the product kernels), the quantizers (range statistics,
requantize or quantize kernels, the rest of the call), batch norm, residual adds, shortcuts,
the loss, the optimizer, and what is left (Python glue between them). By conv product and stage
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
from pathlib import Path

from _breakdown import ExclusiveTimer, install_breakdown, print_breakdown, working_cpu
from _torch_net import torch_net

ROOT = Path(__file__).resolve().parents[1]
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


# ---- one configuration, in a child process -------------------------------------------------------
def run_fxsim(policy_name: str, args) -> dict:
    from fxsim.layers import Context
    from fxsim.numeric.heap import keep_freed_pages
    from fxsim.policy import Policy
    from fxsim.training.network import Network
    from fxsim.training.optim import SGD
    from reference_nets import build_net

    policy = Policy.load(policy_name)
    keep_freed_pages()  # as fxsim train does
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
    result["threads"] = torch.get_num_threads()
    return result


def measure(step, args, timer: ExclusiveTimer | None) -> dict:
    """Warm-up steps, then timed steps; memory and losses."""
    setup_kib = rss_kib()
    losses = [step(i) for i in range(args.warmup)]
    if timer is not None:
        install_breakdown(timer)
    pool = sys.modules.get("fxsim.numeric.threads")  # None in the torch child
    spun = pool.spin_seconds if pool is not None else float
    cpu_clock = working_cpu if pool is not None else time.process_time
    times, cpu_times, spin_times = [], [], []
    for i in range(args.warmup, args.warmup + args.steps):
        start, cpu_start, spin_start = time.perf_counter(), cpu_clock(), spun()
        losses.append(step(i))
        times.append(time.perf_counter() - start)
        spin_times.append(spun() - spin_start)
        cpu_times.append(cpu_clock() - cpu_start)
    result = {"times": times, "cpu_times": cpu_times, "spin_times": spin_times,
              "losses": losses, "setup_kib": setup_kib, "peak_kib": rss_kib()}
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

        result["threads"] = numba.get_num_threads()
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


def configurations(args, has_torch: bool) -> list[str]:
    """torch (when importable), fp, then the requested policies, in that order."""
    configs = ["fxsim:fp"] + [f"fxsim:{p}" for p in dict.fromkeys(args.policy or ["int8"])
                              if p != "fp"]
    if has_torch and not args.no_torch:
        configs.insert(0, "torch:fp32")
    return configs


def ratios(results: dict, batch: int) -> dict[str, dict[str, float]]:
    """Per configuration: images/s of the median step and its ratio to each baseline present
    (``torch``, ``fp``, ``int8``: above 1 is faster than the baseline)."""
    rate = {c: batch / statistics.median(r["times"]) for c, r in results.items()}
    bases = {"torch": "torch:fp32", "fp": "fxsim:fp", "int8": "fxsim:int8"}
    return {c: {"img/s": rate[c], **{f"x {name}": rate[c] / rate[base]
                                     for name, base in bases.items() if base in rate}}
            for c in results}


def print_table(results: dict, batch: int) -> None:
    """One repetition: times, CPU/wall, images/s, the ratios, memory and the load."""
    table = ratios(results, batch)
    names = [k for k in next(iter(table.values())) if k != "img/s"]
    print(f"{'config':<20}{'median s':>9}{'best s':>8}{'cpu s':>7}{'cpu/wall':>9}{'spin s':>7}"
          f"{'img/s':>8}"
          + "".join(f"{n:>9}" for n in names)
          + f"{'peak MB':>9}{'step MB':>8}  threads  load 1/5/15 min before -> after")
    for config, r in results.items():
        median, cpu = statistics.median(r["times"]), statistics.median(r["cpu_times"])
        peak, step_mb = r["peak_kib"] / 1024, (r["peak_kib"] - r["setup_kib"]) / 1024
        spin = statistics.median(r["spin_times"])
        print(f"{config:<20}{median:9.3f}{min(r['times']):8.3f}{cpu:7.2f}{cpu / median:9.2f}"
              f"{spin:7.2f}{table[config]['img/s']:8.1f}"
              + "".join(f"{table[config][n]:9.3f}" for n in names)
              + f"{peak:9.0f}{step_mb:8.0f}  {r['threads']:>7}  {r['load']}")


def print_summary(repetitions: list[dict], batch: int) -> None:
    """The median over repetitions of each configuration's ratios (and their range)."""
    tables = [ratios(results, batch) for results in repetitions]
    print(f"\nmedian of {len(tables)} repetitions (min-max):")
    for config in tables[0]:
        cells = []
        for name in tables[0][config]:
            values = [t[config][name] for t in tables]
            cells.append(f"{name} {statistics.median(values):.3f} "
                         f"({min(values):.3f}-{max(values):.3f})")
        print(f"  {config:<20}" + ", ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--net", choices=NETS, default="resnet20")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=3, help="timed steps (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (default 1)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run every configuration this many times, taking turns "
                             "(default 1); ratios are then summarised over the repetitions")
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
    for name in ("batch", "steps", "threads", "repeat"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.blas_threads is not None and args.blas_threads < 1:
        parser.error(f"--blas-threads must be >= 1, got {args.blas_threads}")
    if args.warmup < 0:
        parser.error(f"--warmup must be >= 0, got {args.warmup}")
    if args.worker:
        worker(args)
        return

    has_torch = importlib.util.find_spec("torch") is not None
    configs = configurations(args, has_torch)
    blas = os.environ.get("OPENBLAS_NUM_THREADS", args.blas_threads or args.threads)
    numba_threads = os.environ.get("NUMBA_NUM_THREADS", args.threads)
    print(f"{args.net}, batch {args.batch}, {os.cpu_count()} cores, load {load()} (1/5/15 min): "
          f"torch.set_num_threads({args.threads}), fxsim NUMBA_NUM_THREADS={numba_threads} "
          f"OPENBLAS_NUM_THREADS={blas}; {args.warmup} warm-up + {args.steps} timed steps per "
          f"run, {args.repeat} run(s) of each configuration taking turns. img/s of the median "
          "step; x NAME = img/s over NAME's in the same repetition (above 1: faster); cpu/wall "
          "= CPU time of all threads over wall time (2.0 keeps two cores busy; fxsim's "
          "without the pool's spinning, shown as spin s); peak RSS = ru_maxrss of each child "
          "process")
    if not has_torch:
        print("(torch not importable in this Python: no PyTorch column)")
    repetitions = []
    for repetition in range(args.repeat):
        results = {}
        for config in configs:
            before = load()
            results[config] = child(config, args)
            results[config]["load"] = f"{before} -> {load()}"
        repetitions.append(results)
        print(f"\nrepetition {repetition + 1}:" if args.repeat > 1 else "")
        print_table(results, args.batch)
    if args.repeat > 1:
        print_summary(repetitions, args.batch)
    bad = [c for results in repetitions for c, r in results.items()
           if not all(math.isfinite(v) for v in r["losses"])]
    if bad:
        print(f"non-finite loss in {', '.join(sorted(set(bad)))}")
    if args.breakdown:
        for config, r in repetitions[-1].items():
            if "breakdown" in r:
                print_breakdown(config, r, r["threads"])


if __name__ == "__main__":
    main()
