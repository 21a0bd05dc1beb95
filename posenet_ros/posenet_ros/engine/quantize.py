"""
int8 post-training quantization of our own graph, for the TFLite backend.

A calibrated int8 model runs the network about 2x faster than float32 with XNNPACK on a CPU
(docs/int8.md): int8 weights and activations from block 2's pointwise convolution on;
Conv2d_0, block 1 and block 2's depthwise, at full resolution with few channels, run in
float32, where XNNPACK is faster. Quantizing PoseNet naively loses much of its accuracy,
because one output tensor holding heatmaps (0-1), offsets (tens of pixels) and displacements
(hundreds) shares one scale. Here each head is its own 1x1 convolution and its own output, so
each gets a scale of its own, and the biases are corrected for the rounding of the weights
(`QuantizeOptions`).

Calibration: a few dozen photos or video frames like the ones the model will see, preprocessed
exactly as at run time (padded to the input's aspect ratio, resized) for each input size; a
model is calibrated per (input size, stride), as the float one is converted per size.

This module imports TensorFlow: it builds models. Running them, and reading calibration frames,
is `int8_backend`'s job (LiteRT only); its names are also exported here.
"""
from __future__ import annotations

import copy

import numpy as np
import tensorflow as tf

from .config import check_precision, PRECISIONS  # noqa: F401 - part of this module's API
from .int8_backend import (  # noqa: F401 - part of this module's API
    DEFAULT_CALIBRATION_FRAMES, int8_grid, Int8TfliteBackend, model_key, QuantizeOptions,
    read_calibration_images)
from .mobilenet import run_backbone_and_heads
from .preprocess import compute_padding, normalize, pad_and_resize
from .uint8_input import with_uint8_input
from .weights import LAYER_NAMES


def calibration_inputs(images: list[np.ndarray], height: int, width: int) -> list[np.ndarray]:
    """
    Each uint8 RGB image as the TFLite model's input of this size (padded, resized, 0-255).

    The exact resize: the network run later takes `pad_and_resize_rounded`, which its first op
    makes the same input (test_engine_int8).
    """
    return [pad_and_resize(image, compute_padding(image.shape[0], image.shape[1], height, width),
                           height, width) for image in images]


def network_function(tensors, layers, options: QuantizeOptions):
    """
    Return the tf.function converted: 0-255 input -> the heads, fused or one per head.

    The input is rounded to whole grey levels (halves to even) first: a full-integer model's
    first op (QUANTIZE, scale 1) does that anyway, and a model whose first layers run in float
    does it explicitly, so both can be fed OpenCV's rounded resize (`pad_and_resize_rounded`).
    """
    def network(resized):
        if options.mixed:
            resized = tf.round(resized)
        outputs = run_backbone_and_heads(normalize(resized), tensors, layers,
                                         per_head=options.per_head_outputs)
        return tuple(outputs) if options.per_head_outputs else outputs
    return tf.function(network, autograph=False)


def quantized_model(tensors, layers, height: int, width: int, calibration: list[np.ndarray],
                    options: QuantizeOptions = QuantizeOptions()) -> bytes:
    """
    Build the int8 TFLite model of our graph at this size, calibrated on these model inputs.

    Weights are int8 per channel; activations int8 (or int16), but for the first
    `options.float_layers` convolutions. The outputs are float32; the input is uint8 (the
    frame's bytes, `uint8_input`) when the first layers run in float, else float32.
    """
    return with_uint8_input(converted_model(tensors, layers, height, width, calibration, options))


def converted_model(tensors, layers, height: int, width: int, calibration: list[np.ndarray],
                    options: QuantizeOptions = QuantizeOptions()) -> bytes:
    """Return `quantized_model` as the converter makes it: its input float32 (0-255)."""
    if not calibration:
        raise ValueError('int8 quantization needs at least one calibration frame')
    if options.bias_correction:
        tensors = bias_corrected(tensors, layers, calibration, options.float_layers)
    network = network_function(tensors, layers, options)
    concrete = network.get_concrete_function(tf.TensorSpec([1, height, width, 3], tf.float32))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], network)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([frame] for frame in calibration)
    if options.int16_activations:
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    elif not options.mixed:
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if not options.mixed:
        return converter.convert()
    debug_options = tf.lite.experimental.QuantizationDebugOptions(
        denylisted_nodes=_float_node_names(concrete, network, options))
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=converter.representative_dataset,
        debug_options=debug_options)
    return debugger.get_nondebug_quantized_model()


def layer_input_means(tensors, layers, calibration: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Mean of each channel of each convolution's input over the calibration frames (float)."""
    sums: dict[str, np.ndarray] = {}

    def observe(name, x):
        sums[name] = sums.get(name, 0.0) + tf.reduce_mean(x, axis=[0, 1, 2]).numpy()

    for frame in calibration:
        run_backbone_and_heads(normalize(tf.constant(frame)), tensors, layers, per_head=False,
                               observe=observe)
    return {name: total / len(calibration) for name, total in sums.items()}


def bias_corrected(tensors, layers, calibration: list[np.ndarray], float_layers: int = 0):
    """
    Return a copy of `tensors`: weights on TFLite's int8 grid, biases corrected for it.

    The first `float_layers` convolutions run in float32 and keep their weights as they are.
    """
    means = layer_input_means(tensors, layers, calibration)
    in_float = set(LAYER_NAMES[:float_layers])  # the convolutions in the order they run

    def corrected(name, kernel, bias, depthwise=False):
        if name in in_float:
            return kernel, bias
        kernel, bias = kernel.numpy(), bias.numpy()
        rounded = int8_grid(kernel)
        error = rounded - kernel
        if depthwise:  # [kh, kw, C, 1]: channel c sees only input channel c
            shift = error[..., 0].sum(axis=(0, 1)) * means[name]
        else:  # [kh, kw, in, out]
            shift = np.einsum('hwio,i->o', error, means[name])
        return tf.constant(rounded), tf.constant((bias - shift).astype(np.float32))

    result = copy.copy(tensors)
    result.conv0 = corrected('Conv2d_0', *tensors.conv0)
    result.blocks = []
    for block, (dw_kernel, dw_bias, pw_kernel, pw_bias) in enumerate(tensors.blocks, start=1):
        result.blocks.append(
            corrected(f'Conv2d_{block}_depthwise', dw_kernel, dw_bias, depthwise=True)
            + corrected(f'Conv2d_{block}_pointwise', pw_kernel, pw_bias))
    result.heads = corrected('heads', *tensors.heads)
    return result


def _float_node_names(concrete, network, options: QuantizeOptions) -> list[str]:
    """
    Return the output tensor names of the ops to keep in float.

    They are the first `float_layers` convolutions and the rounding and normalization before
    them, named as a plain float conversion names them, which is how the quantizer's denylist
    knows them (no calibration needed to find them). (The heads cannot be kept in float this
    way: the converter quantizes a model's output ops whatever the denylist says.)
    """
    from ai_edge_litert.interpreter import Interpreter
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], network)
    interpreter = Interpreter(model_content=converter.convert())
    tensors = interpreter.get_tensor_details()
    ops = interpreter._get_ops_details()  # noqa: SLF001
    convolutions = [i for i, op in enumerate(ops)
                    if op['op_name'] in ('CONV_2D', 'DEPTHWISE_CONV_2D')]
    last = convolutions[min(options.float_layers, len(convolutions)) - 1]
    return [tensors[op['outputs'][0]]['name'] for op in ops[:last + 1]]
