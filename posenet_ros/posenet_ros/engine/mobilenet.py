"""
PoseNet's MobileNetV1 backbone and its four 1x1 heads, built in TensorFlow from a weight map.

The layers run as `layer_plan` lays them out for the output stride (imported only where a
TensorFlow graph is built or run: a cached TFLite model needs none of this). Dilation is applied
in both spatial dimensions (the network as trained), not the (rate, 1) the shipped stride-8
graph JSONs end up with in tfjs.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from .layer_plan import (  # noqa: F401 - the plan's names, also imported from here
    ConvLayer, FIRST_CONV_STRIDE, HEAD_CHANNELS, HEAD_SPLITS, NUM_OUTPUT_CHANNELS,
    output_strided_layers, separable_strides)
from .weights import HEADS, ModelWeights, NUM_SEPARABLE_BLOCKS


class MobileNetTensors:
    """
    The weights as TensorFlow constants, made once and shared by every stride and input size.

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
    """Run [1, H, W, 3] normalized input -> [1, h, w, 115]: sigmoid heatmaps, offsets, fwd, bwd."""
    return run_backbone_and_heads(inputs, tensors, layers, per_head=False)


def run_backbone_and_heads(inputs: tf.Tensor, tensors: MobileNetTensors,
                           layers: tuple[ConvLayer, ...], per_head: bool, observe=None):
    """
    Run `run_mobilenet`; with `per_head`, the heads as four convolutions and four outputs.

    Four outputs (sigmoid heatmaps, offsets, fwd, bwd) let a quantized model give each its own
    scale. `observe(name, x)`, if given, sees the input of each convolution ('Conv2d_0',
    'Conv2d_<block>_depthwise', 'Conv2d_<block>_pointwise', 'heads'); run eagerly.
    """
    observe = observe or (lambda name, x: None)
    x = run_backbone(inputs, tensors, layers, observe)
    kernel, bias = tensors.heads
    observe('heads', x)
    if per_head:
        heads = [tf.nn.bias_add(tf.nn.conv2d(x, kernel[..., a:b], 1, 'SAME'), bias[a:b])
                 for a, b in zip(HEAD_SPLITS, HEAD_SPLITS[1:])]
        return [tf.sigmoid(heads[0])] + heads[1:]
    heads = tf.nn.bias_add(tf.nn.conv2d(x, kernel, 1, 'SAME'), bias)
    heatmap_logits, rest = heads[..., :HEAD_CHANNELS[0]], heads[..., HEAD_CHANNELS[0]:]
    return tf.concat([tf.sigmoid(heatmap_logits), rest], axis=-1)


def run_backbone(inputs: tf.Tensor, tensors: MobileNetTensors, layers: tuple[ConvLayer, ...],
                 observe=None) -> tf.Tensor:
    """Run the backbone layers `layers` (all, or the first few) over normalized input."""
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
    return x
