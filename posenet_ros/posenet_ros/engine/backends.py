"""
The inference backends: one small class per way of running MobileNetV1, behind one interface.

Every backend turns a uint8 RGB image into the fused head output [n, h, w, 115] (n = 2 with the
mirrored input) for a given input size and output stride; all give the same outputs within
float32 tolerance. `PoseNetwork` checks the arguments, computes the padding and picks a backend
with `backend_class`.

* 'tflite'   - our own TF graph converted to a float32 TFLite model per (input size, stride)
               (about 0.5 s, once; `prepare` does it ahead, from any thread) and run with
               XNNPACK on `num_threads` cores (0: all); padding and resizing run before it (in
               NumPy), normalization in it. Fastest on CPU: the default there. Converted models
               are kept on disk (`tflite_cache`): with the model there, nothing loads
               TensorFlow; a missing one is converted in a child process (`tflite_build`)
               unless TensorFlow is loaded already, so this process never holds it.
The TensorFlow-graph backends (`tf_backends`, imported on first use):
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
import importlib
import logging
from pathlib import Path
import sys
import threading
import time
from typing import Callable, ClassVar

import cv2
import numpy as np

from . import tflite_cache
from .layer_plan import output_strided_layers
from .preprocess import pad_and_resize
from .tf_runtime import import_tensorflow, thread_count
from .types import Padding
from .weights import ModelWeights

# Bytes of TFLite interpreters kept for reuse, least recently used evicted first, as estimated
# by `_Interpreter.nbytes`: the model plus the size of every tensor, an upper bound 1.5-4.5x what
# the process's resident memory grows by (the arena reuses memory between layers). At 0.75 that
# is 69 MiB at 353x481 stride 16, 270 MiB at 641x641 stride 8, 670 MiB at 1025x1025 stride 8,
# growing with the input's pixels. 1 GiB keeps the few sizes a node switches between; a larger
# interpreter is built for the frame that needs it and dropped after it.
TFLITE_CACHE_BYTES = 1 << 30

_log = logging.getLogger('posenet_ros.engine')

Timings = dict[str, float]


class InferenceBackend(abc.ABC):
    """
    Runs the network for one set of weights on one device, with `num_threads` (0: all cores).

    `run` is called with checked arguments (uint8 RGB image, valid input size for the stride);
    it returns the fused head output [1 or 2, h, w, 115] and the time spent on preprocessing
    and inference (ms). `prepare` builds what `run` needs for a size ahead of the first frame.
    The weights become TensorFlow constants (`_tensors`) on first use, where a graph is built.
    """

    name: ClassVar[str]

    def __init__(self, weights: ModelWeights, multiplier: float, device: str,
                 num_threads: int = 0):
        self._weights = weights
        self._multiplier = multiplier
        self._device = device
        self._num_threads = num_threads
        self._tensors_made = None
        self._tensors_lock = threading.Lock()

    @property
    def _tensors(self):
        """Return the weights as TensorFlow constants (`mobilenet.MobileNetTensors`), made once."""
        with self._tensors_lock:
            if self._tensors_made is None:
                tf = import_tensorflow(self._num_threads)
                from .mobilenet import MobileNetTensors
                with tf.device(self._device):
                    self._tensors_made = MobileNetTensors(self._weights)
            return self._tensors_made

    def layers(self, output_stride: int):
        return _layers(self._multiplier, output_stride)

    @abc.abstractmethod
    def run(self, image_rgb: np.ndarray, padding: Padding, input_height: int, input_width: int,
            output_stride: int, with_mirror: bool) -> tuple[np.ndarray, Timings]:
        """Return the fused head output for the image (and its mirror), and the timings."""

    def prepare(self, input_height: int, input_width: int, output_stride: int) -> None:
        """Build (trace, compile or convert) what `run` needs for this size and stride."""
        probe = np.zeros((input_height, input_width, 3), dtype=np.uint8)
        self.run(probe, Padding(), input_height, input_width, output_stride, with_mirror=False)


@functools.lru_cache(maxsize=16)
def _layers(multiplier: float, output_stride: int):
    return output_strided_layers(multiplier, output_stride)


class _Interpreter:
    """One converted TFLite model ready to run: the interpreter, its tensor indices, its cost."""

    def __init__(self, model: bytes, num_threads: int = 0):
        self.interpreter = _make_interpreter(model, num_threads)
        self.interpreter.allocate_tensors()
        source = self.interpreter.get_input_details()[0]
        self.input_index = source['index']
        self.input_shape = tuple(int(side) for side in source['shape'])
        self.input_dtype = np.dtype(source['dtype'])
        # One fused output, or (int8 models, `quantize`) one per head in the fused order.
        self.output_indices = [detail['index'] for detail in sorted(
            self.interpreter.get_output_details(), key=_output_order)]
        self.lock = threading.Lock()  # an interpreter runs one frame at a time
        self.nbytes = len(model) + _tensor_bytes(self.interpreter)

    def feed(self, inputs: np.ndarray) -> None:
        """
        Write `inputs` (any layout, float32 or uint8) into the model's input, converting.

        In place, in one pass: a uint8 frame into a uint8 input (int8 models, `uint8_input`) is
        copied as bytes; into a float32 input (int8 models of the full-integer recipe) it is
        not first made a float32 copy (0.22 against 0.55 ms at 641x641). No view of the
        interpreter's memory outlives the call, which `invoke` requires.
        """
        if inputs.shape != self.input_shape:  # copyto would broadcast what set_tensor refuses
            raise ValueError(f'network input of shape {inputs.shape}, the model takes '
                             f'{self.input_shape}')
        if self.input_dtype == np.uint8 and inputs.dtype != np.uint8:
            raise ValueError(f'network input of {inputs.dtype}, the model takes uint8 (whole '
                             'grey levels)')
        buffer = self.interpreter.tensor(self.input_index)()
        try:
            np.copyto(buffer, inputs)
        finally:
            del buffer  # not even a traceback may keep the view

    def output(self) -> np.ndarray:
        """
        Return the fused head output [1, h, w, 115] of the last invoke: a new array.

        Per-head outputs (int8 models) are joined from views of the interpreter's memory, so
        each is copied once, not twice.
        """
        if len(self.output_indices) == 1:
            return self.interpreter.get_tensor(self.output_indices[0])
        return np.concatenate([self.interpreter.tensor(index)()
                               for index in self.output_indices], axis=-1)


def _output_order(detail) -> int:
    """Position of a converted function's output: its name is 'Identity', 'Identity_1', ..."""
    suffix = detail['name'].rpartition('_')[2]
    return int(suffix) if suffix.isdigit() else 0


def _tensor_bytes(interpreter) -> int:
    """
    Return the bytes of every tensor of an allocated interpreter.

    An upper bound of its arena (which shares memory between tensors that are not alive
    together) plus the constant weights, which stands in for XNNPACK's packed copy of them.
    """
    total = 0
    for detail in interpreter.get_tensor_details():
        shape = detail.get('shape')
        if shape is None or len(shape) == 0:
            continue
        total += int(np.prod(shape, dtype=np.int64)) * np.dtype(detail['dtype']).itemsize
    return total


class TfliteBackend(InferenceBackend):
    """
    Our graph converted to TFLite per (input size, stride), run with XNNPACK.

    Interpreters are kept up to `TFLITE_CACHE_BYTES` (least recently used evicted). A model is
    converted without holding the cache's lock, so `prepare` can build a new size in another
    thread while `run` serves frames with the sizes already built; two threads asking for the
    same new size build it once. Models come from the disk cache (`tflite_cache`) when there;
    a model built is stored there.
    """

    name = 'tflite'
    precision: ClassVar[str] = tflite_cache.DEFAULT_PRECISION
    # A missing model is converted in a child process unless TensorFlow is loaded. The child
    # runs this class's float32 `_convert`: a subclass converting otherwise (another precision,
    # calibration data in this process) keeps it False or gives its child what it needs.
    build_in_child: ClassVar[bool] = True
    # Frame -> network input (0-255, float32 or uint8): exact for float32 (parity with the
    # original).
    resize_input: ClassVar[Callable] = staticmethod(pad_and_resize)

    def __init__(self, weights, multiplier, device, num_threads=0):
        if 'GPU' in device:
            raise ValueError("backend 'tflite' runs on the CPU only; use device 'cpu' or another "
                             "backend ('function', 'xla') for the GPU")
        super().__init__(weights, multiplier, device, num_threads)
        self._cache_lock = threading.Lock()  # held only to look up, insert and evict
        self._interpreters: collections.OrderedDict[tuple, _Interpreter] = (
            collections.OrderedDict())
        self._building: dict[tuple, threading.Lock] = {}  # one builder per size

    def run(self, image_rgb, padding, input_height, input_width, output_stride, with_mirror):
        start = time.perf_counter()
        inputs = self.resize_input(image_rgb, padding, input_height, input_width,  # 0-255
                                   threads=thread_count(self._num_threads))
        middle = time.perf_counter()
        entry = self._interpreter(input_height, input_width, output_stride)
        interpreter = entry.interpreter
        with entry.lock:
            entry.feed(inputs)
            interpreter.invoke()
            fused = entry.output()
            if with_mirror:
                entry.feed(cv2.flip(inputs[0], 1)[np.newaxis])  # 6x NumPy's reversed view
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
        """Return the estimated memory of the interpreters kept (see `TFLITE_CACHE_BYTES`)."""
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
                entry = _Interpreter(self._model(height, width, output_stride),
                                     self._num_threads)
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
        """
        Insert, then evict the least recently used beyond the budget.

        An interpreter over
        the budget on its own is not kept: the caller uses it for this frame only.
        """
        if entry.nbytes > TFLITE_CACHE_BYTES:
            return
        self._interpreters[key] = entry
        total = sum(kept.nbytes for kept in self._interpreters.values())
        while total > TFLITE_CACHE_BYTES:
            _, evicted = self._interpreters.popitem(last=False)
            total -= evicted.nbytes

    def cache_key(self, height: int, width: int,
                  output_stride: int) -> tflite_cache.TfliteModelKey:
        """Return the disk cache's key of the model of this size."""
        return tflite_cache.TfliteModelKey(
            weights_sha256=tflite_cache.weights_checksum(self._weights.descriptor),
            multiplier=self._multiplier, input_height=height, input_width=width,
            output_stride=output_stride, precision=self.precision)

    def _model(self, height: int, width: int, output_stride: int) -> bytes:
        """
        Return the TFLite model of this size: from the disk cache, else built and stored.

        A damaged cache entry is logged and rebuilt.
        """
        model = self._read_cached(height, width, output_stride)
        if model is not None:
            return model
        if (self.build_in_child and 'tensorflow' not in sys.modules
                and type(self)._convert is TfliteBackend._convert):
            path = tflite_cache.entry_path(self.cache_key(height, width, output_stride))
            return self._build_in_child(path, height, width, output_stride)
        return self._convert_and_store(height, width, output_stride)

    def _read_cached(self, height: int, width: int, output_stride: int) -> bytes | None:
        """Return the model of this size from the disk cache; None if missing or damaged."""
        path = tflite_cache.find_entry(self.cache_key(height, width, output_stride))
        if path is None:
            return None
        try:
            return tflite_cache.read_entry(path)
        except (tflite_cache.CorruptModelError, OSError) as error:
            _log.warning('rebuilding the TFLite model: cached file unusable: %s', error)
            return None

    def _convert_and_store(self, height: int, width: int, output_stride: int) -> bytes:
        """`_convert` in this process, then stored in the disk cache where it can be written."""
        model = self._convert(height, width, output_stride)
        try:
            tflite_cache.write_entry(
                tflite_cache.entry_path(self.cache_key(height, width, output_stride)), model)
        except OSError as error:  # a read-only or full disk: run it all the same
            _log.warning('cannot store the TFLite model in the cache: %s', error)
        return model

    def _build_in_child(self, path, height: int, width: int, output_stride: int) -> bytes:
        """
        Convert in a child process into the cache entry `path` and read the model back.

        Into a temporary folder where the cache cannot be written.
        """
        from .leftovers import scratch_folder
        from .tflite_build import build_in_child_process
        with scratch_folder('tflite') as scratch:
            if not tflite_cache.writable_folder(path.parent):
                _log.warning('the model cache %s cannot be written: the TFLite model is '
                             'converted for this process only', path.parent)
                path = Path(scratch) / path.name
            start = time.perf_counter()
            model = build_in_child_process(self._weights.descriptor, self._multiplier, height,
                                           width, output_stride, self._num_threads, path)
            _log.info('built the TFLite model %dx%d stride %d in a child process in %.1f s: %s',
                      height, width, output_stride, time.perf_counter() - start, path)
            return model

    def _convert(self, height: int, width: int, output_stride: int) -> bytes:
        """Convert our graph to TFLite at this size, in this process (imports TensorFlow)."""
        tf = import_tensorflow(self._num_threads)
        from .mobilenet import run_mobilenet
        from .preprocess import normalize
        tensors, layers = self._tensors, self.layers(output_stride)
        network = tf.function(lambda resized: run_mobilenet(normalize(resized), tensors, layers),
                              autograph=False)
        with tf.device(self._device):
            concrete = network.get_concrete_function(
                tf.TensorSpec([1, height, width, 3], tf.float32))
            converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], network)
            return converter.convert()


def _make_interpreter(model: bytes, num_threads: int = 0):
    """
    Make a LiteRT interpreter, or TensorFlow's bundled one where LiteRT is not installed.

    XNNPACK, `num_threads` threads, 0: one per core.
    """
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        Interpreter = import_tensorflow(num_threads).lite.Interpreter
    return Interpreter(model_content=model, num_threads=thread_count(num_threads))


# Backend name -> (module, class); the first is listed first in help texts. The TensorFlow-graph
# backends' module (and TensorFlow) is imported when one of them is asked for.
_BACKEND_CLASS_NAMES = {
    'tflite': (__name__, 'TfliteBackend'),
    'function': ('.tf_backends', 'FunctionBackend'),
    'xla': ('.tf_backends', 'XlaBackend'),
    'eager': ('.tf_backends', 'EagerBackend'),
}
BACKEND_NAMES = tuple(_BACKEND_CLASS_NAMES)


def backend_class(name: str) -> type[InferenceBackend]:
    """Return the backend class called `name` (ValueError naming the choices otherwise)."""
    if name not in _BACKEND_CLASS_NAMES:
        raise ValueError(f'backend must be one of {BACKEND_NAMES}, got {name!r}')
    module, class_name = _BACKEND_CLASS_NAMES[name]
    if module == __name__:
        return globals()[class_name]
    return getattr(importlib.import_module(module, __package__), class_name)
