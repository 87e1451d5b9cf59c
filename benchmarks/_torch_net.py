"""PyTorch's version of the reference nets, for the fp32 baseline of ``benchmarks/train.py``
(imported as ``_torch_net``; torch is never a dependency of fxsim)."""

from __future__ import annotations

CLASSES = 10


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
