"""torch's LSTM layer."""

from torch import Tensor, nn


class TorchLSTM(nn.LSTM):
    """nn.LSTM (one layer, time-major) returning only its outputs."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x)[0]


LAYER = TorchLSTM
