"""The inference backends: one small class per way of running MobileNetV1, behind one interface.

Every backend turns a uint8 RGB image into the fused head output [n, h, w, 115] (n = 2 with the
mirrored input) for a given input size and output stride; all give the same outputs within
float32 tolerance. `PoseNetwork` checks the arguments, computes the padding and picks a backend
from `BACKEND_CLASSES`.

* 'tflite'   - our own TF graph converted to a float32 TFLite model per (input size, stride)
               (about 0.5 s, once; `prepare` does it ahead, from any thread) and run with
               XNNPACK on all cores; padding and resizing run before it (NumPy + one eager TF
               op), normalization in it. Fastest on CPU: the default there.
* 'function' - one `tf.function` per output stride with dynamic image size, input size and
               padding (no retrace per image); preprocessing fused into the graph. Default on GPU.
* 'xla'      - the same graph compiled with XLA (`jit_compile=True`); compiles once per image
               size and input size. Meant for GPUs: XLA's CPU depthwise convolutions are ~10x
               slower than TF's.
* 'eager'    - the same ops run eagerly; slow, for debugging.
"""
from __future__ import annotations

import abc
import collections
import functools
import os
import threading
import time
from typing import Callable, ClassVar

import numpy as np
import tensorflow as tf

from .mobilenet import MobileNetTensors, output_strided_layers, run_mobilenet
from .preprocess import normalize, pad_and_resize, pad_resize_normalize, padding_vector
from .types import Padding

# Bytes of TFLite interpreters kept for reuse, least recently used evicted first, as estimated
# by `_Interpreter.nbytes`: the model plus the size of every tensor, an upper bound 1.5-4.5x what
# the process's resident memory grows by (the arena reuses memory between layers). At 0.75 that
# is 69 MiB at 353x481 stride 16, 270 MiB at 641x641 stride 8, 670 MiB at 1025x1025 stride 8,
# growing with the input's pixels. 1 GiB keeps the few sizes a node switches between; a larger
# interpreter is built for the frame that needs it and dropped after it.
TFLITE_CACHE_BYTES = 1 << 30

_PREPROCESS_SIGNATURE = (
    tf.TensorSpec([None, None, 3], tf.uint8, name='image'),
    tf.TensorSpec([4], tf.int32, name='padding'),
    tf.TensorSpec([2], tf.int32, name='input_size'),
)

Timings = dict[str, float]


class InferenceBackend(abc.ABC):
    """Runs the network for one set of weights (as TF constants) on one device.

    `run` is called with checked arguments (uint8 RGB image, valid input size for the stride);
    it returns the fused head output [1 or 2, h, w, 115] and the time spent on preprocessing
    and inference (ms). `prepare` builds what `run` needs for a size ahead of the first frame.
    """

    name: ClassVar[str]

    def __init__(self, tensors: MobileNetTensors, multiplier: float, device: str):
        self._tensors = tensors
        self._multiplier = multiplier
        self._device = device

    def layers(self, output_stride: int):
        return _layers(self._multiplier, output_stride)

    @abc.abstractmethod
    def run(self, image_rgb: np.ndarray, padding: Padding, input_height: int, input_width: int,
            output_stride: int, with_mirror: bool) -> tuple[np.ndarray, Timings]:
        """The fused head output for the image (and its mirror), and the timings."""

    def prepare(self, input_height: int, input_width: int, output_stride: int) -> None:
        """Build (trace, compile or convert) what `run` needs for this size and stride."""
        probe = np.zeros((input_height, input_width, 3), dtype=np.uint8)
        self.run(probe, Padding(), input_height, input_width, output_stride, with_mirror=False)


@functools.lru_cache(maxsize=16)
def _layers(multiplier: float, output_stride: int):
    return output_strided_layers(multiplier, output_stride)


def with_mirrored_input(inputs: tf.Tensor) -> tf.Tensor:
    """[1, H, W, 3] network input -> [2, H, W, 3]: the input, then it mirrored left-right."""
    return tf.concat([inputs, tf.reverse(inputs, axis=[2])], axis=0)


class EagerBackend(InferenceBackend):
    """The graph's ops one by one (no tracing): slow, for debugging."""

    name = 'eager'

    def __init__(self, tensors, multiplier, device):
        super().__init__(tensors, multiplier, device)
        self._lock = threading.Lock()

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


class FunctionBackend(InferenceBackend):
    """One graph-mode `tf.function` per (stride, mirror), preprocessing fused into it."""

    name = 'function'
    jit_compile: ClassVar[bool] = False

    def __init__(self, tensors, multiplier, device):
        super().__init__(tensors, multiplier, device)
        self._lock = threading.Lock()
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


class _Interpreter:
    """One converted TFLite model ready to run: the interpreter, its tensor indices, its cost."""

    def __init__(self, model: bytes):
        self.interpreter = _make_interpreter(model)
        self.interpreter.allocate_tensors()
        self.input_index = self.interpreter.get_input_details()[0]['index']
        # One fused output, or (int8 models, `quantize`) one per head in the fused order.
        self.output_indices = [detail['index'] for detail in sorted(
            self.interpreter.get_output_details(), key=_output_order)]
        self.lock = threading.Lock()  # an interpreter runs one frame at a time
        self.nbytes = len(model) + _tensor_bytes(self.interpreter)

    def output(self) -> np.ndarray:
        """The fused head output [1, h, w, 115] of the last invoke (a view, or a new array)."""
        if len(self.output_indices) == 1:
            return self.interpreter.get_tensor(self.output_indices[0])
        return np.concatenate([self.interpreter.get_tensor(index)
                               for index in self.output_indices], axis=-1)


def _output_order(detail) -> int:
    """Position of a converted function's output: its name is 'Identity', 'Identity_1', ..."""
    suffix = detail['name'].rpartition('_')[2]
    return int(suffix) if suffix.isdigit() else 0


def _tensor_bytes(interpreter) -> int:
    """Bytes of every tensor of an allocated interpreter: an upper bound of its arena (which
    shares memory between tensors that are not alive together) plus the constant weights,
    which stands in for XNNPACK's packed copy of them."""
    total = 0
    for detail in interpreter.get_tensor_details():
        shape = detail.get('shape')
        if shape is None or len(shape) == 0:
            continue
        total += int(np.prod(shape, dtype=np.int64)) * np.dtype(detail['dtype']).itemsize
    return total


class TfliteBackend(InferenceBackend):
    """Our graph converted to TFLite per (input size, stride), run with XNNPACK.

    Interpreters are kept up to `TFLITE_CACHE_BYTES` (least recently used evicted). A model is
    converted without holding the cache's lock, so `prepare` can build a new size in another
    thread while `run` serves frames with the sizes already built; two threads asking for the
    same new size build it once.
    """

    name = 'tflite'

    def __init__(self, tensors, multiplier, device):
        if 'GPU' in device:
            raise ValueError("backend 'tflite' runs on the CPU only; use device 'cpu' or another "
                             "backend ('function', 'xla') for the GPU")
        super().__init__(tensors, multiplier, device)
        self._cache_lock = threading.Lock()  # held only to look up, insert and evict
        self._interpreters: collections.OrderedDict[tuple, _Interpreter] = (
            collections.OrderedDict())
        self._building: dict[tuple, threading.Lock] = {}  # one builder per size

    def run(self, image_rgb, padding, input_height, input_width, output_stride, with_mirror):
        start = time.perf_counter()
        with tf.device(self._device):
            inputs = pad_and_resize(image_rgb, padding, input_height, input_width)  # 0-255
        middle = time.perf_counter()
        entry = self._interpreter(input_height, input_width, output_stride)
        interpreter = entry.interpreter
        with entry.lock:
            interpreter.set_tensor(entry.input_index, inputs)
            interpreter.invoke()
            fused = entry.output()
            if with_mirror:
                fused = fused.copy()  # the interpreter reuses its output buffer
                interpreter.set_tensor(entry.input_index,
                                       np.ascontiguousarray(inputs[:, :, ::-1]))
                interpreter.invoke()
                fused = np.concatenate([fused, entry.output()])
        return fused, {'preprocess': (middle - start) * 1e3,
                       'inference': (time.perf_counter() - middle) * 1e3}

    def prepare(self, input_height: int, input_width: int, output_stride: int) -> None:
        """Convert and keep the model of this size (no frame is run; safe from any thread)."""
        self._interpreter(input_height, input_width, output_stride)

    def cached_sizes(self) -> list[tuple[int, int, int]]:
        """(height, width, stride) of the interpreters kept, least recently used first."""
        with self._cache_lock:
            return list(self._interpreters)

    def cached_bytes(self) -> int:
        """The estimated memory of the interpreters kept (see `TFLITE_CACHE_BYTES`)."""
        with self._cache_lock:
            return sum(entry.nbytes for entry in self._interpreters.values())

    def _interpreter(self, height: int, width: int, output_stride: int) -> _Interpreter:
        key = (height, width, output_stride)
        with self._cache_lock:
            entry = self._lookup(key)
            if entry is not None:
                return entry
            builder = self._building.setdefault(key, threading.Lock())
        with builder:  # a second caller for this size waits here for the first one's build
            with self._cache_lock:
                entry = self._lookup(key)
            if entry is None:
                entry = _Interpreter(self._convert(height, width, output_stride))
                with self._cache_lock:
                    self._keep(key, entry)
        with self._cache_lock:
            if self._building.get(key) is builder:
                del self._building[key]
        return entry

    def _lookup(self, key):
        entry = self._interpreters.get(key)
        if entry is not None:
            self._interpreters.move_to_end(key)
        return entry

    def _keep(self, key, entry: _Interpreter) -> None:
        """Insert, then evict the least recently used beyond the budget. An interpreter over
        the budget on its own is not kept: the caller uses it for this frame only."""
        if entry.nbytes > TFLITE_CACHE_BYTES:
            return
        self._interpreters[key] = entry
        total = sum(kept.nbytes for kept in self._interpreters.values())
        while total > TFLITE_CACHE_BYTES:
            _, evicted = self._interpreters.popitem(last=False)
            total -= evicted.nbytes

    def _convert(self, height: int, width: int, output_stride: int) -> bytes:
        tensors, layers = self._tensors, self.layers(output_stride)
        network = tf.function(lambda resized: run_mobilenet(normalize(resized), tensors, layers),
                              autograph=False)
        with tf.device(self._device):
            concrete = network.get_concrete_function(
                tf.TensorSpec([1, height, width, 3], tf.float32))
            converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], network)
            return converter.convert()


def _make_interpreter(model: bytes):
    """A LiteRT interpreter (XNNPACK, one thread per core), or TF's bundled one without LiteRT."""
    threads = (len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity')
               else os.cpu_count() or 1)
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        Interpreter = tf.lite.Interpreter
    return Interpreter(model_content=model, num_threads=threads)


# Backend name -> class; the first is listed first in help texts.
BACKEND_CLASSES: dict[str, type[InferenceBackend]] = {
    cls.name: cls for cls in (TfliteBackend, FunctionBackend, XlaBackend, EagerBackend)}
