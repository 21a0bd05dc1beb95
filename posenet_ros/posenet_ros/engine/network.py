"""Run PoseNet's network on an image: preprocessing + MobileNetV1 + heads, on a chosen backend.

Backends (all give the same outputs within float32 tolerance):

* 'tflite'   - our own TF graph converted to a float32 TFLite model per (input size, stride)
               (about 0.5 s, once; `prepare` does it ahead) and run with XNNPACK on all cores;
               padding and resizing run before it (NumPy + one eager TF op), normalization in
               it. Fastest on CPU: the default there.
* 'function' - one `tf.function` per output stride with dynamic image size, input size and
               padding (no retrace per image); preprocessing fused into the graph. Default on GPU.
* 'xla'      - the same graph compiled with XLA (`jit_compile=True`); compiles once per image
               size and input size. Meant for GPUs: XLA's CPU depthwise convolutions are ~10x
               slower than TF's.
* 'eager'    - the same ops run eagerly; slow, for debugging.

Weights become TensorFlow constants once per PoseNetwork; switching stride or input size only
builds (and caches) another graph over the same constants.
"""
from __future__ import annotations

import collections
import os
import threading
import time
from typing import Callable

import numpy as np
import tensorflow as tf

from .mobilenet import HEAD_SPLITS, MobileNetTensors, output_strided_layers, run_mobilenet
from .preprocess import (
    compute_padding, normalize, pad_and_resize, pad_resize_normalize, padding_vector)
from .types import NetworkOutputs, Padding
from .weights import ModelWeights

BACKENDS = ('tflite', 'function', 'xla', 'eager')
DEVICES = ('auto', 'cpu', 'gpu')
TFLITE_CACHE_SIZE = 8

_PREPROCESS_SIGNATURE = (
    tf.TensorSpec([None, None, 3], tf.uint8, name='image'),
    tf.TensorSpec([4], tf.int32, name='padding'),
    tf.TensorSpec([2], tf.int32, name='input_size'),
)


def resolve_device(device: str) -> str:
    """'auto' | 'cpu' | 'gpu' -> a TensorFlow device string ('/CPU:0' or '/GPU:0')."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    has_gpu = bool(tf.config.list_physical_devices('GPU'))
    if device == 'gpu' and not has_gpu:
        raise ValueError("device 'gpu' requested, but TensorFlow sees no GPU "
                         "(tf.config.list_physical_devices('GPU') is empty); use 'cpu' or 'auto'")
    return '/GPU:0' if device == 'gpu' or (device == 'auto' and has_gpu) else '/CPU:0'


def default_backend(device_string: str) -> str:
    """The fastest backend that keeps parity: TFLite+XNNPACK on CPU, tf.function on GPU."""
    return 'function' if 'GPU' in device_string else 'tflite'


def check_image(image_rgb) -> np.ndarray:
    """The image as a uint8 (H, W, 3) array, or a ValueError saying what is wrong with it."""
    if not isinstance(image_rgb, np.ndarray):
        raise ValueError(f'image must be a numpy uint8 array (H, W, 3), got {type(image_rgb).__name__}')
    if image_rgb.dtype != np.uint8:
        raise ValueError(f'image must be uint8 RGB (0-255), got dtype {image_rgb.dtype}')
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
        raise ValueError(f'image must have shape (height, width, 3) (RGB), got {image_rgb.shape}')
    if image_rgb.shape[0] < 1 or image_rgb.shape[1] < 1:
        raise ValueError(f'image is empty: shape {image_rgb.shape}')
    return image_rgb


def with_mirrored_input(inputs: tf.Tensor) -> tf.Tensor:
    """[1, H, W, 3] network input -> [2, H, W, 3]: the input, then it mirrored left-right."""
    return tf.concat([inputs, tf.reverse(inputs, axis=[2])], axis=0)


def split_outputs(fused: np.ndarray) -> NetworkOutputs:
    """[1, h, w, 115] fused head output -> NetworkOutputs of contiguous [h, w, c] arrays."""
    parts = [np.ascontiguousarray(fused[0, :, :, a:b]) for a, b in zip(HEAD_SPLITS, HEAD_SPLITS[1:])]
    return NetworkOutputs(*parts)


class PoseNetwork:
    """PoseNet's network for one set of weights, on one backend and device.

    `run(image, input_height, input_width, output_stride)` returns the four head outputs on the
    model-input grid, the padding used, and how long preprocessing and inference took (ms;
    preprocessing is 0 where it is fused into the inference graph).
    """

    def __init__(self, weights: ModelWeights, *, backend: str | None = None, device: str = 'auto'):
        self.device = resolve_device(device)
        backend = backend or default_backend(self.device)
        if backend not in BACKENDS:
            raise ValueError(f'backend must be one of {BACKENDS}, got {backend!r}')
        if backend == 'tflite' and 'GPU' in self.device:
            raise ValueError("backend 'tflite' runs on the CPU only; use device 'cpu' or another "
                             "backend ('function', 'xla') for the GPU")
        self.backend = backend
        self.multiplier = weights.multiplier
        with tf.device(self.device):
            self._tensors = MobileNetTensors(weights)
        self._lock = threading.Lock()
        self._fused: dict[tuple, Callable] = {}  # (stride, with mirror) -> image-to-outputs graph
        self._interpreters: collections.OrderedDict = collections.OrderedDict()

    def run(self, image_rgb: np.ndarray, input_height: int, input_width: int,
            output_stride: int) -> tuple[NetworkOutputs, Padding, dict[str, float]]:
        fused, padding, timings = self._run(image_rgb, input_height, input_width, output_stride,
                                            with_mirror=False)
        return split_outputs(fused), padding, timings

    def run_with_mirror(self, image_rgb: np.ndarray, input_height: int, input_width: int,
                        output_stride: int
                        ) -> tuple[NetworkOutputs, NetworkOutputs, Padding, dict[str, float]]:
        """`run`, plus the outputs for the network input mirrored left-right (for a flip test).

        The mirror is taken after preprocessing, so both passes see the same pixels; the second
        outputs are on the mirrored grid (see `flip_test.unmirror_outputs`). TFLite runs the two
        passes one after the other (a batch of two is no faster with XNNPACK); the TensorFlow
        backends run them as one batch.
        """
        fused, padding, timings = self._run(image_rgb, input_height, input_width, output_stride,
                                            with_mirror=True)
        return split_outputs(fused[0:1]), split_outputs(fused[1:2]), padding, timings

    def _run(self, image_rgb, input_height, input_width, output_stride, with_mirror):
        image_rgb = check_image(image_rgb)
        layers = output_strided_layers(self.multiplier, output_stride)  # ValueError if unreachable
        for name, value in (('input_height', input_height), ('input_width', input_width)):
            if value < 1 or (value - 1) % output_stride:
                raise ValueError(f'{name} {value} is not k * {output_stride} + 1 for output stride '
                                 f'{output_stride} (snap it with EstimateConfig.snapped())')
        padding = compute_padding(image_rgb.shape[0], image_rgb.shape[1], input_height, input_width)
        with self._lock, tf.device(self.device):
            if self.backend == 'tflite':
                fused, timings = self._run_tflite(image_rgb, padding, input_height, input_width,
                                                  layers, output_stride, with_mirror)
                return fused, padding, timings
            pad = padding_vector(padding)
            size = np.array([input_height, input_width], dtype=np.int32)
            if self.backend == 'eager':
                start = time.perf_counter()
                inputs = pad_resize_normalize(tf.constant(image_rgb), tf.constant(pad), tf.constant(size))
                if with_mirror:
                    inputs = with_mirrored_input(inputs)
                middle = time.perf_counter()
                fused = run_mobilenet(inputs, self._tensors, layers).numpy()
                timings = {'preprocess': (middle - start) * 1e3,
                           'inference': (time.perf_counter() - middle) * 1e3}
            else:
                start = time.perf_counter()
                graph = self._fused_graph(output_stride, layers, with_mirror)
                fused = graph(image_rgb, pad, size).numpy()
                timings = {'preprocess': 0.0, 'inference': (time.perf_counter() - start) * 1e3}
        return fused, padding, timings

    def prepare(self, input_height: int, input_width: int, output_stride: int) -> None:
        """Build (trace, compile or convert) what `run` needs for this size and stride."""
        probe = np.zeros((input_height, input_width, 3), dtype=np.uint8)
        self.run(probe, input_height, input_width, output_stride)

    def _fused_graph(self, output_stride: int, layers, with_mirror: bool = False) -> Callable:
        key = (output_stride, with_mirror)
        graph = self._fused.get(key)
        if graph is None:
            tensors = self._tensors

            def image_to_outputs(image, padding, size):
                inputs = pad_resize_normalize(image, padding, size)
                if with_mirror:
                    inputs = with_mirrored_input(inputs)
                return run_mobilenet(inputs, tensors, layers)

            graph = tf.function(image_to_outputs, input_signature=_PREPROCESS_SIGNATURE,
                                autograph=False, jit_compile=self.backend == 'xla')
            self._fused[key] = graph
        return graph

    def _run_tflite(self, image_rgb, padding, input_height, input_width, layers, output_stride,
                    with_mirror=False):
        start = time.perf_counter()
        inputs = pad_and_resize(image_rgb, padding, input_height, input_width)  # 0-255
        middle = time.perf_counter()
        interpreter, input_index, output_index = self._interpreter(
            input_height, input_width, output_stride, layers)
        interpreter.set_tensor(input_index, inputs)
        interpreter.invoke()
        fused = interpreter.get_tensor(output_index)
        if with_mirror:
            fused = fused.copy()  # the interpreter reuses its output buffer
            interpreter.set_tensor(input_index, np.ascontiguousarray(inputs[:, :, ::-1]))
            interpreter.invoke()
            fused = np.concatenate([fused, interpreter.get_tensor(output_index)])
        return fused, {'preprocess': (middle - start) * 1e3,
                       'inference': (time.perf_counter() - middle) * 1e3}

    def _interpreter(self, height: int, width: int, output_stride: int, layers):
        key = (height, width, output_stride)
        entry = self._interpreters.get(key)
        if entry is not None:
            self._interpreters.move_to_end(key)
            return entry
        tensors = self._tensors
        network = tf.function(lambda resized: run_mobilenet(normalize(resized), tensors, layers),
                              autograph=False)
        concrete = network.get_concrete_function(tf.TensorSpec([1, height, width, 3], tf.float32))
        converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], network)
        model = converter.convert()
        interpreter = _make_interpreter(model)
        interpreter.allocate_tensors()
        entry = (interpreter, interpreter.get_input_details()[0]['index'],
                 interpreter.get_output_details()[0]['index'])
        self._interpreters[key] = entry
        while len(self._interpreters) > TFLITE_CACHE_SIZE:
            self._interpreters.popitem(last=False)
        return entry


def _make_interpreter(model: bytes):
    """A LiteRT interpreter (XNNPACK, one thread per core), or TF's bundled one if LiteRT is absent."""
    threads = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count() or 1
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        Interpreter = tf.lite.Interpreter
    return Interpreter(model_content=model, num_threads=threads)
