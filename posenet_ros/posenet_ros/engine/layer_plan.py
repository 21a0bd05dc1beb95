"""
The layer plan of PoseNet's MobileNetV1 per output stride, and the heads' channel layout.

Plain Python (no TensorFlow), so that code running a converted model (the TFLite backend, the
network's output split) needs no TensorFlow; `mobilenet` builds the TensorFlow graph from it.
The plan follows tfjs-models posenet `toOutputStridedLayers`: convolutions keep their stride
until the running stride reaches the requested output stride; from then on every layer runs
with stride 1 and an atrous rate that grows by the stride it gave up.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import max_output_stride
from .weights import HEADS

# Stride of each of the 13 separable blocks after the stride-2 Conv2d_0.
_SEPARABLE_STRIDES_050_075 = (1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 1, 1)
_SEPARABLE_STRIDES_100_101 = (1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1)
FIRST_CONV_STRIDE = 2

# Channel layout of the fused head output: heatmap scores, offsets, forward, backward
# displacements.
HEAD_CHANNELS = tuple(channels for _, channels in HEADS)
HEAD_SPLITS = tuple(int(s) for s in np.cumsum((0,) + HEAD_CHANNELS))
NUM_OUTPUT_CHANNELS = HEAD_SPLITS[-1]


@dataclass(frozen=True)
class ConvLayer:
    """One backbone convolution as it runs for a given output stride."""

    block_id: int       # 0 for Conv2d_0, 1..13 for the separable blocks
    separable: bool
    stride: int
    rate: int           # atrous rate of the depthwise 3x3 (1 = plain)


def separable_strides(multiplier: float) -> tuple[int, ...]:
    return _SEPARABLE_STRIDES_100_101 if multiplier >= 1.0 else _SEPARABLE_STRIDES_050_075


def output_strided_layers(multiplier: float, output_stride: int) -> tuple[ConvLayer, ...]:
    """
    Return the backbone plan reaching `output_stride`, as tfjs `toOutputStridedLayers` builds it.

    Raises ValueError when the architecture cannot reach that stride (32 needs 1.00/1.01);
    tfjs silently returns a coarser grid there.
    """
    reachable = max_output_stride(multiplier)
    if output_stride not in (8, 16, 32) or output_stride > reachable:
        raise ValueError(
            f'output stride {output_stride} is not available for MobileNetV1 {multiplier:.2f}: '
            f'use 8 or 16'
            + (' or 32' if reachable == 32 else ' (32 needs multiplier 1.00 or 1.01)'))
    definitions = [(False, FIRST_CONV_STRIDE)] + [(True, s) for s in separable_strides(multiplier)]
    current_stride, rate, layers = 1, 1, []
    for block_id, (separable, stride) in enumerate(definitions):
        if current_stride == output_stride:
            layers.append(ConvLayer(block_id, separable, 1, rate))
            rate *= stride
        else:
            layers.append(ConvLayer(block_id, separable, stride, 1))
            current_stride *= stride
    assert current_stride == output_stride
    return tuple(layers)
