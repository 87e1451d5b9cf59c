"""The layout contract of DESIGN.md: import order, a cost model that loads no kernel, net specs
that agree with the layers built from them, and modules small enough to read."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 400


def test_import_contracts_hold():
    """``lint-imports`` checks the contracts in pyproject.toml ([tool.importlinter])."""
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe, "import-linter is part of the test extra: pip install -e '.[test]'"
    result = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


@pytest.mark.parametrize("code", [
    "import fxsim, fxsim.policy, fxsim.numeric.formats",
    "import reference_nets.specs; reference_nets.specs.places("
    "reference_nets.specs.net_spec('resnet20'), (3, 32, 32))",
    "import costmodel; costmodel.compare(['int8', 'int4_interval', 'arc8', 'sr8'], "
    "baseline='fp', net='resnet20', batch=8)",
])
def test_reading_policies_and_pricing_loads_no_numba(code):
    check = code + "; import sys; assert 'numba' not in sys.modules, sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", check], check=True, cwd=ROOT)


def test_public_names_stay_where_the_readme_puts_them():
    import fxsim
    from fxsim.numeric.convert import quantize
    from fxsim.numeric.formats import QFormat

    assert fxsim.quantize is quantize and fxsim.QFormat is QFormat
    assert fxsim.ops.conv2d and fxsim.layers.Conv2d and fxsim.requantize and fxsim.FxArray
    assert fxsim.Accumulator(8).bits == 8
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        fxsim.nope  # noqa: B018


def _modules() -> list[Path]:
    return sorted(p for pkg in ("fxsim", "costmodel", "reference_nets")
                  for p in (ROOT / pkg).rglob("*.py"))


def test_no_module_is_too_long_to_read():
    long = {str(p.relative_to(ROOT)): n for p in _modules()
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


# ---- net specs against the layers built from them ---------------------------------------------
def _recorded_quantizers(body, policy):
    """(layer, role, kind) of every quantizer ``body`` asks for, in bind order."""
    from fxsim.layers import Input
    from fxsim.layers.base import Binder

    class Recorder(Binder):
        def __init__(self) -> None:
            super().__init__(policy, seed=0)
            self.calls: list[tuple[str, str, str]] = []

        def quantizers_for(self, layer, role, kind, **options):
            self.calls.append((layer, role, kind))

    recorder = Recorder()
    Input().bind(recorder)
    body.bind(recorder)
    return recorder.calls


@pytest.mark.parametrize("net", ["digits_cnn", "mnist_cnn", "resnet20", "vgg_small"])
def test_specs_match_the_layers_built_from_them(net):
    from fxsim.policy import Policy
    from reference_nets.build import build_net
    from reference_nets.specs import NETS, net_spec, output_shape, places

    shape = NETS[net][1]
    body = build_net(net)
    shapes, out = body.shapes(shape)
    spec = net_spec(net)
    found = places(spec, shape)
    assert [p.mac for p in found if p.mac is not None] == shapes
    assert output_shape(spec, shape) == out == (10,)
    calls = _recorded_quantizers(body, Policy.load("int8"))
    activations = [(layer, kind) for layer, role, kind in calls if role == "activations"]
    assert activations == [(p.name, p.kind) for p in found if p.kind is not None]
    weights = [layer for layer, role, _ in calls if role == "weights"]
    assert weights == [p.name for p in found if p.mac is not None]
    names = [layer.name for layer in body.walk()]
    assert {p.name for p in found if not p.name.endswith("_add")} - {"input"} <= set(names)


def test_every_layer_class_quantizes_its_kind():
    from fxsim.layers import LAYER_CLASSES
    from fxsim.policy import LAYER_KINDS, OP_KINDS, Policy
    from reference_nets.build import build
    from reference_nets.specs import node

    assert set(LAYER_CLASSES) == set(OP_KINDS)
    assert set(LAYER_KINDS) == {cls.kind for cls in LAYER_CLASSES.values()} - {None}
    samples = {"conv2d": {"in_channels": 2, "out_channels": 2}, "linear": {
        "in_features": 2, "out_features": 2}, "batchnorm": {"channels": 2}, "maxpool": {
        "kernel": 2}, "avgpool": {"kernel": 2}, "shortcut_a": {
        "in_channels": 2, "out_channels": 4}}
    for op, cls in LAYER_CLASSES.items():
        if op in ("sequential", "residual", "input"):
            continue
        layer = build(node(op, "x", **samples.get(op, {})))
        assert type(layer) is cls
        calls = _recorded_quantizers(layer, Policy.load("int8"))[1:]  # [0] is the input's
        kinds = {kind for layer_name, role, kind in calls if role == "activations"}
        assert kinds == ({cls.kind} if cls.kind else set()), op
