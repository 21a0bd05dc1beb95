"""
The backends that run the network as a TensorFlow graph: 'function', 'xla', 'eager'.

Imported (and TensorFlow with it) only when one of them is chosen; `backends` describes them.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, ClassVar

import numpy as np
import tensorflow as tf

from .backends import InferenceBackend
from .mobilenet import run_mobilenet
from .preprocess import pad_resize_normalize, padding_vector
from .tf_runtime import import_tensorflow

_PREPROCESS_SIGNATURE = (
    tf.TensorSpec([None, None, 3], tf.uint8, name='image'),
    tf.TensorSpec([4], tf.int32, name='padding'),
    tf.TensorSpec([2], tf.int32, name='input_size'),
)


def with_mirrored_input(inputs: tf.Tensor) -> tf.Tensor:
    """[1, H, W, 3] network input -> [2, H, W, 3]: the input, then it mirrored left-right."""
    return tf.concat([inputs, tf.reverse(inputs, axis=[2])], axis=0)


class TensorFlowBackend(InferenceBackend):
    """A backend running TensorFlow ops: its thread pools get `num_threads` before first use."""

    def __init__(self, weights, multiplier, device, num_threads=0):
        import_tensorflow(num_threads)
        super().__init__(weights, multiplier, device, num_threads)
        self._lock = threading.Lock()


class EagerBackend(TensorFlowBackend):
    """The graph's ops one by one (no tracing): slow, for debugging."""

    name = 'eager'

    def run(self, image_rgb, padding, input_height, input_width, output_stride, with_mirror):
        layers = self.layers(output_stride)
        with self._lock, tf.device(self._device):
            start = time.perf_counter()
            inputs = pad_resize_normalize(
                tf.constant(image_rgb), tf.constant(padding_vector(padding)),
                tf.constant([input_height, input_width], dtype=tf.int32))
            if with_mirror:
                inputs = with_mirrored_input(inputs)
            middle = time.perf_counter()
            fused = run_mobilenet(inputs, self._tensors, layers).numpy()
        return fused, {'preprocess': (middle - start) * 1e3,
                       'inference': (time.perf_counter() - middle) * 1e3}


class FunctionBackend(TensorFlowBackend):
    """One graph-mode `tf.function` per (stride, mirror), preprocessing fused into it."""

    name = 'function'
    jit_compile: ClassVar[bool] = False

    def __init__(self, weights, multiplier, device, num_threads=0):
        super().__init__(weights, multiplier, device, num_threads)
        self._graphs: dict[tuple[int, bool], Callable] = {}

    def run(self, image_rgb, padding, input_height, input_width, output_stride, with_mirror):
        layers = self.layers(output_stride)
        pad = padding_vector(padding)
        size = np.array([input_height, input_width], dtype=np.int32)
        with self._lock, tf.device(self._device):
            start = time.perf_counter()
            graph = self._graph(output_stride, layers, with_mirror)
            fused = graph(image_rgb, pad, size).numpy()
        return fused, {'preprocess': 0.0, 'inference': (time.perf_counter() - start) * 1e3}

    def _graph(self, output_stride: int, layers, with_mirror: bool) -> Callable:
        key = (output_stride, with_mirror)
        graph = self._graphs.get(key)
        if graph is None:
            tensors = self._tensors

            def image_to_outputs(image, padding, size):
                inputs = pad_resize_normalize(image, padding, size)
                if with_mirror:
                    inputs = with_mirrored_input(inputs)
                return run_mobilenet(inputs, tensors, layers)

            graph = tf.function(image_to_outputs, input_signature=_PREPROCESS_SIGNATURE,
                                autograph=False, jit_compile=self.jit_compile)
            self._graphs[key] = graph
        return graph


class XlaBackend(FunctionBackend):
    """`FunctionBackend` compiled with XLA (once per image size and input size)."""

    name = 'xla'
    jit_compile = True
