"""torch's GRU layer."""

from torch import Tensor, nn


class TorchGRU(nn.GRU):
    """nn.GRU (one layer, time-major) returning only its outputs."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x)[0]


LAYER = TorchGRU
