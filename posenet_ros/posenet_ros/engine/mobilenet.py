"""PoseNet's MobileNetV1 backbone and its four 1x1 heads, built in TensorFlow from a weight map.

The layer plan follows tfjs-models posenet `toOutputStridedLayers`: convolutions keep their
stride until the running stride reaches the requested output stride; from then on every layer
runs with stride 1 and an atrous rate that grows by the stride it gave up. Dilation is applied
in both spatial dimensions (the network as trained), not the (rate, 1) the shipped stride-8
graph JSONs end up with in tfjs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from .config import max_output_stride
from .weights import HEADS, NUM_SEPARABLE_BLOCKS, ModelWeights

# Stride of each of the 13 separable blocks after the stride-2 Conv2d_0.
_SEPARABLE_STRIDES_050_075 = (1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 1, 1)
_SEPARABLE_STRIDES_100_101 = (1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1)
FIRST_CONV_STRIDE = 2

# Channel layout of the fused head output: heatmap scores, offsets, forward, backward displacements.
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
    """The backbone plan reaching `output_stride`, as tfjs `toOutputStridedLayers` builds it.

    Raises ValueError when the architecture cannot reach that stride (32 needs 1.00/1.01);
    tfjs silently returns a coarser grid there.
    """
    reachable = max_output_stride(multiplier)
    if output_stride not in (8, 16, 32) or output_stride > reachable:
        raise ValueError(
            f'output stride {output_stride} is not available for MobileNetV1 {multiplier:.2f}: '
            f'use 8 or 16' + (' or 32' if reachable == 32 else ' (32 needs multiplier 1.00 or 1.01)'))
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


class MobileNetTensors:
    """The weights as TensorFlow constants, made once and shared by every stride and input size.

    The four heads are fused into one 1x1 convolution (their kernels concatenated along the
    output axis), which is the same arithmetic per channel in a quarter of the kernel launches.
    """

    def __init__(self, weights: ModelWeights):
        self.multiplier = weights.multiplier
        w = weights.tensors
        self.conv0 = (tf.constant(w['Conv2d_0/weights']), tf.constant(w['Conv2d_0/bias']))
        self.blocks = []
        for block in range(1, NUM_SEPARABLE_BLOCKS + 1):
            dw, pw = f'Conv2d_{block}_depthwise', f'Conv2d_{block}_pointwise'
            self.blocks.append((tf.constant(w[f'{dw}/weights']), tf.constant(w[f'{dw}/bias']),
                                tf.constant(w[f'{pw}/weights']), tf.constant(w[f'{pw}/bias'])))
        self.heads = (
            tf.constant(np.concatenate([w[f'{name}/weights'] for name, _ in HEADS], axis=-1)),
            tf.constant(np.concatenate([w[f'{name}/bias'] for name, _ in HEADS], axis=-1)))


def run_mobilenet(inputs: tf.Tensor, tensors: MobileNetTensors,
                  layers: tuple[ConvLayer, ...]) -> tf.Tensor:
    """Normalized [1, H, W, 3] input -> [1, h, w, 115]: sigmoid heatmaps, offsets, fwd, bwd."""
    return run_backbone_and_heads(inputs, tensors, layers, per_head=False)


def run_backbone_and_heads(inputs: tf.Tensor, tensors: MobileNetTensors,
                           layers: tuple[ConvLayer, ...], per_head: bool, observe=None):
    """`run_mobilenet`; with `per_head`, the four heads as four convolutions and four outputs
    (sigmoid heatmaps, offsets, fwd, bwd), so a quantized model gives each its own scale.

    `observe(name, x)`, if given, sees the input of each convolution ('Conv2d_0',
    'Conv2d_<block>_depthwise', 'Conv2d_<block>_pointwise', 'heads'); run eagerly.
    """
    observe = observe or (lambda name, x: None)
    x = inputs
    for layer in layers:
        if not layer.separable:
            kernel, bias = tensors.conv0
            observe('Conv2d_0', x)
            x = tf.nn.relu6(tf.nn.bias_add(
                tf.nn.conv2d(x, kernel, layer.stride, 'SAME'), bias))
            continue
        dw_kernel, dw_bias, pw_kernel, pw_bias = tensors.blocks[layer.block_id - 1]
        observe(f'Conv2d_{layer.block_id}_depthwise', x)
        # The raw op takes real (rate, rate) dilations directly (no space-to-batch rewrite),
        # which TFLite's DEPTHWISE_CONV_2D also supports natively.
        x = tf.raw_ops.DepthwiseConv2dNative(
            input=x, filter=dw_kernel, strides=[1, layer.stride, layer.stride, 1],
            padding='SAME', dilations=[1, layer.rate, layer.rate, 1])
        x = tf.nn.relu6(tf.nn.bias_add(x, dw_bias))
        observe(f'Conv2d_{layer.block_id}_pointwise', x)
        x = tf.nn.relu6(tf.nn.bias_add(tf.nn.conv2d(x, pw_kernel, 1, 'SAME'), pw_bias))
    kernel, bias = tensors.heads
    observe('heads', x)
    if per_head:
        heads = [tf.nn.bias_add(tf.nn.conv2d(x, kernel[..., a:b], 1, 'SAME'), bias[a:b])
                 for a, b in zip(HEAD_SPLITS, HEAD_SPLITS[1:])]
        return [tf.sigmoid(heads[0])] + heads[1:]
    heads = tf.nn.bias_add(tf.nn.conv2d(x, kernel, 1, 'SAME'), bias)
    heatmap_logits, rest = heads[..., :HEAD_CHANNELS[0]], heads[..., HEAD_CHANNELS[0]:]
    return tf.concat([tf.sigmoid(heatmap_logits), rest], axis=-1)
