"""
The int8 TFLite backend, and what calibrates it, without TensorFlow.

A process running int8 models that are already calibrated (in the model cache, or made by
posenet_quantize) loads LiteRT alone, like the float32 path. A model still to be calibrated is
built by `quantize` (TensorFlow): in this process when TensorFlow is already loaded here, else
in a child process given the calibration frames (`tflite_build`), so a node calibrating on its
first camera frames does not keep TensorFlow's ~550 MB for the rest of its life.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import hashlib
import logging
import os
from pathlib import Path
import sys
import tempfile
import time

import numpy as np

from . import tflite_cache
from .backends import TfliteBackend
from .preprocess import pad_and_resize_rounded

# Calibration frames used when more are given: more than about 50 changes no scale measurably.
DEFAULT_CALIBRATION_FRAMES = 48
_log = logging.getLogger('posenet_ros.engine')


@dataclass(frozen=True)
class QuantizeOptions:
    """
    How the int8 model is built (docs/int8.md measures each choice).

    per_head_outputs: one output per head, each on its own scale (False: the naive fused one).
    float_layers: keep this many backbone convolutions from the input on (Conv2d_0, then the
        depthwise and pointwise of each block) in float32: the early ones lose the most.
    int16_activations: 16-bit activations, 8-bit weights (no XNNPACK: reference kernels).
    bias_correction: before converting, round the weights to the int8 grid TFLite will use
        (symmetric, per output channel) and move each bias by the mean error that rounding
        causes on the calibration frames (Nagel et al. 2019, "Data-free quantization"): the
        rounding of the weights alone costs 0.02 AP, this gives most of it back.
    """

    per_head_outputs: bool = True
    float_layers: int = 0
    int16_activations: bool = False
    bias_correction: bool = True

    @property
    def mixed(self) -> bool:
        return self.float_layers > 0


class Int8TfliteBackend(TfliteBackend):
    """
    `TfliteBackend` whose models are quantized to int8, calibrated per input size.

    Models calibrated ahead (`posenet_quantize`; `models`) are used for their size and
    stride; any other size is calibrated on `calibration_images` when first needed and stored
    in the model cache under a key naming the quantization options and a digest of the
    calibration frames, so another calibration never shares it.
    """

    name = 'tflite'
    precision = 'int8'
    build_in_child = False  # the float32 child cannot calibrate: `_build_int8_in_child` does
    resize_input = staticmethod(pad_and_resize_rounded)  # what the network keeps of the input

    def __init__(self, weights, multiplier, device, num_threads,
                 calibration_images: list[np.ndarray],
                 options: QuantizeOptions = QuantizeOptions(), models: list[bytes] = ()):
        super().__init__(weights, multiplier, device, num_threads)
        described = [(describe_model(model), model) for model in models]
        check_models_width([facts for facts, _ in described], weights)
        self._models = {key: model for (key, _), model in described}
        if not calibration_images and not self._models:
            raise ValueError('precision int8 needs calibration images (photos or a video) '
                             'or a model made by posenet_quantize')
        self.options = options
        self.convert_seconds: dict[tuple[int, int, int], float] = {}
        digest = hashlib.sha256(repr(options).encode())
        for image in calibration_images:
            digest.update(np.ascontiguousarray(image).tobytes())
        self._variant = digest.hexdigest()[:16]
        # The frames wait on disk, not in memory (48 camera frames are ~44 MB), for the sizes
        # still to calibrate; the folder goes when this backend does.
        self._calibration_count = len(calibration_images)
        self._scratch = self._calibration_file = None
        if calibration_images:
            self._scratch = tempfile.TemporaryDirectory(prefix='posenet_int8_')
            self._calibration_file = Path(self._scratch.name) / 'calibration.npz'
            np.savez(self._calibration_file, *calibration_images)

    def cache_key(self, height: int, width: int, output_stride: int):
        return dataclasses.replace(super().cache_key(height, width, output_stride),
                                   variant=self._variant)

    def model_bytes(self, height: int, width: int, output_stride: int) -> bytes:
        """Return the int8 model of this size (calibrated now if it was not yet)."""
        key = (height, width, output_stride)
        if key not in self._models:
            self._models[key] = self._model(height, width, output_stride)
        return self._models[key]

    def _model(self, height: int, width: int, output_stride: int) -> bytes:
        key = (height, width, output_stride)
        if key in self._models:  # made ahead by posenet_quantize
            return self._models[key]
        if not self._calibration_count:
            sizes = ', '.join(f'{h}x{w} stride {s}' for h, w, s in self._models)
            raise ValueError(f'no int8 model for {height}x{width} stride {output_stride} (have '
                             f'{sizes}) and no calibration images to make one')
        model = self._read_cached(height, width, output_stride)
        if model is None and 'tensorflow' not in sys.modules:
            # Missing or damaged: a process without TensorFlow keeps it out.
            model = self._build_int8_in_child(height, width, output_stride)
        elif model is None:
            model = self._convert_and_store(height, width, output_stride)
        self._models[key] = model  # kept (1-3 MB) so an evicted interpreter is rebuilt fast
        return model

    def _build_int8_in_child(self, height: int, width: int, output_stride: int) -> bytes:
        """Calibrate in a child process into the cache (or a scratch file) and read it back."""
        from .tflite_build import build_in_child_process
        path = tflite_cache.entry_path(self.cache_key(height, width, output_stride))
        if not tflite_cache.writable_folder(path.parent):
            path = Path(self._scratch.name) / path.name
        start = time.perf_counter()
        build_in_child_process(self._weights.descriptor, self._multiplier, height, width,
                               output_stride, self._num_threads, path,
                               int8_calibration=self._calibration_file,
                               quantize_options=dataclasses.asdict(self.options))
        self.convert_seconds[(height, width, output_stride)] = time.perf_counter() - start
        _log.info('calibrated the int8 model %dx%d stride %d in a child process in %.1f s: %s',
                  height, width, output_stride, time.perf_counter() - start, path)
        return tflite_cache.read_entry(path)

    def _convert(self, height: int, width: int, output_stride: int) -> bytes:
        """Calibrate and convert in this process (imports TensorFlow)."""
        from .quantize import calibration_inputs, quantized_model
        from .tf_runtime import import_tensorflow
        tf = import_tensorflow(self._num_threads)
        start = time.perf_counter()
        with tf.device(self._device):
            frames = calibration_inputs(load_calibration_frames(self._calibration_file),
                                        height, width)
            model = quantized_model(self._tensors, self.layers(output_stride), height, width,
                                    frames, self.options)
        self.convert_seconds[(height, width, output_stride)] = time.perf_counter() - start
        return model


def load_calibration_frames(path: Path) -> list[np.ndarray]:
    """Return the frames saved by `Int8TfliteBackend` (an .npz of uint8 RGB arrays)."""
    with np.load(path) as saved:
        return [saved[name] for name in saved.files]


def describe_model(model: bytes) -> tuple[tuple[int, int, int], int | None]:
    """
    Return a converted model's (input height, input width, output stride) and its width.

    The width as the channels of its first convolution (the one over RGB), None if not found.
    """
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_content=model)
    _, height, width, _ = interpreter.get_input_details()[0]['shape']
    _, grid_height, _, _ = interpreter.get_output_details()[0]['shape']
    key = int(height), int(width), int((height - 1) // (grid_height - 1))
    for tensor in interpreter.get_tensor_details():
        shape = tuple(int(side) for side in tensor['shape'])
        if len(shape) == 4 and shape[1:] == (3, 3, 3):
            return key, shape[0]
    return key, None


def model_key(model: bytes) -> tuple[int, int, int]:
    """(input height, input width, output stride) of a converted model of our graph."""
    return describe_model(model)[0]


def check_models_width(described: list, weights) -> None:
    """
    Refuse int8 models made from another width of MobileNetV1 than `weights`.

    `described`: `describe_model` of each. A model is found by its input size and stride
    alone; one made for 0.50 weights would otherwise run in place of the 0.75 model asked
    for, and be reported as it.
    """
    expected = int(weights['Conv2d_0/weights'].shape[-1])
    for (height, width, stride), channels in described:
        if channels is not None and channels != expected:
            raise ValueError(
                f'the int8 model for {height}x{width} stride {stride} was made from other '
                f'weights: its first layer has {channels} channels, these have {expected} '
                f'(multiplier {weights.multiplier:g}); make it with posenet_quantize and the '
                'same --model')


def find_calibrated_model(weights_path: str | os.PathLike, multiplier: float, height: int,
                          width: int, output_stride: int) -> Path | None:
    """
    Return the newest int8 model in the cache for these weights, size and stride, or None.

    Whatever it was calibrated on (a node's first camera frames, posenet_quantize's input).
    """
    key = tflite_cache.TfliteModelKey(
        weights_sha256=tflite_cache.weights_checksum(weights_path), multiplier=multiplier,
        input_height=height, input_width=width, output_stride=output_stride, precision='int8',
        variant='*')
    return tflite_cache.newest_entry(key)


def read_calibration_images(path: str | os.PathLike,
                            limit: int = DEFAULT_CALIBRATION_FRAMES) -> list[np.ndarray]:
    """
    Read up to `limit` uint8 RGB frames from a folder of images or a video, spread evenly.

    Raises InputReadError or ValueError with the reason if there are none.
    """
    from .image_io import expand_inputs, is_video, iter_video_rgb, load_image_rgb
    path = Path(path)
    if not path.exists():
        raise ValueError(f'calibration input {path} does not exist')
    if path.is_file() and is_video(path):
        picks = set(_spread(_video_frame_count(path), limit)) or set(range(limit))
        frames = []
        for index, rgb in iter_video_rgb(path):
            if index in picks:
                frames.append(rgb)
            if index >= max(picks):
                break
    else:
        files = [file for file in expand_inputs([path]) if not is_video(file)]
        frames = [load_image_rgb(files[i]) for i in _spread(len(files), limit)]
    if not frames:
        raise ValueError(f'no calibration images found in {path}')
    return frames


def _video_frame_count(path: Path) -> int:
    import cv2
    capture = cv2.VideoCapture(str(path))
    try:
        return max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT)))
    finally:
        capture.release()


def _spread(count: int, limit: int) -> list[int]:
    """`limit` indices of `count` items, evenly spaced (all of them if there are fewer)."""
    if count <= 0:
        return []
    return sorted({int(i) for i in np.linspace(0, count - 1, min(limit, count)).round()})
