"""A process-wide cache of CUDA graphs, through which the hand-written layers' loops run on a GPU.

On a CUDA GPU each small op's launch costs far more than its arithmetic, and a graph replays a whole
loop's launches as one. On the CPU a loop runs as it is.
"""

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor


def clone_outputs(outputs: Any) -> Any:
    """Copies of the tensors in a (nested) tuple of outputs, the rest as it is."""
    if isinstance(outputs, tuple):
        return tuple(clone_outputs(item) for item in outputs)
    return outputs.clone() if isinstance(outputs, Tensor) else outputs


class CudaGraphs:
    """The hand-written layers' loops as CUDA graphs, one per loop and input shapes, captured at first use.

    On a GPU an eager loop is launch-bound: each of its small ops costs a kernel launch (microseconds of
    CPU) for less arithmetic than that, hundreds of them per sequence. A graph replays all of a loop's
    launches as one. Its inputs are copied into the graph's own tensors and its outputs cloned out of
    them, so a result outlives the next replay; the kernels are the eager loop's, so the numbers are too.
    Each graph keeps its buffers while the process lives: tens of MB per shape of batch. On the CPU the
    loop runs as it is.
    """

    def __init__(self) -> None:
        self.graphs: dict[tuple, tuple[torch.cuda.CUDAGraph, list[Tensor], Any]] = {}

    def __call__(self, loop: Callable[..., Any], key: tuple, *inputs: Tensor) -> Any:
        """loop(*inputs), replayed from the graph of `key` and the inputs' shapes when the inputs are on a GPU."""
        if not inputs[0].is_cuda:
            return loop(*inputs)
        key = (*key, torch.is_inference_mode_enabled(), *((tensor.shape, tensor.dtype) for tensor in inputs))
        if key not in self.graphs:
            self.graphs[key] = self.capture(loop, inputs)
        graph, static_inputs, static_outputs = self.graphs[key]
        for static, tensor in zip(static_inputs, inputs, strict=True):
            static.copy_(tensor)
        graph.replay()
        return clone_outputs(static_outputs)

    @staticmethod
    def capture(loop: Callable[..., Any], inputs: tuple[Tensor, ...]) -> tuple:
        """A graph of loop(*inputs) on copies of the inputs, after one eager warm-up run (as torch's docs do)."""
        static_inputs = [tensor.clone() for tensor in inputs]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            loop(*static_inputs)  # cuBLAS and the allocator set themselves up outside the capture
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_outputs = loop(*static_inputs)
        return graph, static_inputs, static_outputs


GRAPHS = CudaGraphs()
