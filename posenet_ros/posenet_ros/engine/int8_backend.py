"""
The int8 TFLite backend, and what calibrates it, without TensorFlow.

A process running int8 models that are already calibrated (in the model cache, or made by
posenet_quantize) loads LiteRT alone, like the float32 path. A model still to be calibrated is
built by `quantize` (TensorFlow): in this process when TensorFlow is already loaded here, else
in a child process given the calibration frames (`tflite_build`), so a node calibrating on its
first camera frames does not keep TensorFlow's ~550 MB for the rest of its life.
"""
from __future__ import annotations

import collections
import dataclasses
from dataclasses import dataclass
import hashlib
import logging
import os
from pathlib import Path
import sys
import time

import numpy as np

from . import tflite_cache
from .backends import TfliteBackend
from .leftovers import scratch_folder
from .preprocess import pad_and_resize_rounded
from .uint8_input import with_uint8_input

# Bumped when `quantize` makes other int8 models from the same options: cached ones then differ
# by key and are calibrated again (as GRAPH_VERSION does for the float32 graph).
INT8_RECIPE_VERSION = 2
# Calibration frames used when more are given: more than about 50 changes no scale measurably.
DEFAULT_CALIBRATION_FRAMES = 48
_log = logging.getLogger('posenet_ros.engine')


@dataclass(frozen=True)
class QuantizeOptions:
    """
    How the int8 model is built (docs/int8.md measures each choice).

    per_head_outputs: one output per head, each on its own scale (False: the naive fused one).
    float_layers: keep this many backbone convolutions from the input on (Conv2d_0, then the
        depthwise and pointwise of each block) in float32. Four (Conv2d_0, block 1 and block
        2's depthwise): at full resolution with 3 to 32 channels, XNNPACK's int8 kernels are
        slower than its float ones (Conv2d_0 3.5x at 641x641), so the network is 5-25% faster
        with them in float, at the same AP; the fourth, of stride 2, moves the step from
        float to int8 onto a quarter as many values (0.50 at 641x641: 1.79x -> 1.87x).
    int16_activations: 16-bit activations, 8-bit weights (no XNNPACK: reference kernels).
    bias_correction: before converting, round the weights to the int8 grid TFLite will use
        (symmetric, per output channel) and move each bias by the mean error that rounding
        causes on the calibration frames (Nagel et al. 2019, "Data-free quantization"): the
        rounding of the weights alone costs 0.02 AP, this gives most of it back.
    """

    per_head_outputs: bool = True
    float_layers: int = 4
    int16_activations: bool = False
    bias_correction: bool = True

    @property
    def mixed(self) -> bool:
        return self.float_layers > 0

    @property
    def digest(self) -> str:
        """Return the options' part of a cache key (a model of other options is never taken)."""
        return hashlib.sha256(f'{self!r} recipe {INT8_RECIPE_VERSION}'.encode()).hexdigest()[:8]


def calibrated_variant(options: QuantizeOptions, frames_digest: str) -> str:
    """
    Return the cache key's variant of a model: the options' digest, then the frames'.

    Apart, so that a model calibrated on any frames can be looked up by its options alone
    (`find_calibrated_model`).
    """
    return f'{options.digest}-{frames_digest}'


class CalibrationFrames(list):
    """The frames `load_calibration_frames` read, and the .npz they are kept in (`path`)."""

    path: Path


class Int8TfliteBackend(TfliteBackend):
    """
    `TfliteBackend` whose models are quantized to int8, calibrated per input size.

    Models calibrated ahead (`posenet_quantize`; `models`) are used for their size and
    stride (`check_models`: made from these weights, full-integer int8); any other size is
    calibrated on `calibration_images` when first needed and stored in the model cache under a
    key naming a digest of the quantization options and one of the calibration frames, so
    another calibration never shares it. Frames read by `load_calibration_frames` (a child
    building for its parent) are calibrated on from their file, not saved again.
    """

    name = 'tflite'
    precision = 'int8'
    build_in_child = False  # the float32 child cannot calibrate: `_build_int8_in_child` does
    resize_input = staticmethod(pad_and_resize_rounded)  # what the network keeps of the input

    def __init__(self, weights, multiplier, device, num_threads,
                 calibration_images: list[np.ndarray],
                 options: QuantizeOptions = QuantizeOptions(), models: list[bytes] = ()):
        super().__init__(weights, multiplier, device, num_threads)
        described = [describe_model(model) for model in models]
        check_models(described, weights)
        # Models made before int8 models took uint8 run with it too (the same outputs).
        self._models = {facts.key: with_uint8_input(model)
                        for facts, model in zip(described, models)}
        if not calibration_images and not self._models:
            raise ValueError('precision int8 needs calibration images (photos or a video) '
                             'or a model made by posenet_quantize')
        self.options = options
        self.convert_seconds: dict[tuple[int, int, int], float] = {}
        digest = hashlib.sha256()
        for image in calibration_images:
            digest.update(np.ascontiguousarray(image).tobytes())
        self._variant = calibrated_variant(options, digest.hexdigest()[:16])
        # The frames wait on disk, not in memory (48 camera frames are ~44 MB), for the sizes
        # still to calibrate; the folder goes when this backend does. Frames that are on disk
        # already (a child given its parent's) are not copied: a killed child would leave the
        # copy behind.
        self._calibration_count = len(calibration_images)
        self._scratch = None
        self._calibration_file = getattr(calibration_images, 'path', None)
        if calibration_images and self._calibration_file is None:
            self._calibration_file = self._scratch_folder() / 'calibration.npz'
            np.savez(self._calibration_file, *calibration_images)

    def _scratch_folder(self) -> Path:
        """Return this backend's temporary folder (made when first needed), removed with it."""
        if self._scratch is None:
            self._scratch = scratch_folder('int8')
        return Path(self._scratch.name)

    def cache_key(self, height: int, width: int, output_stride: int):
        return dataclasses.replace(super().cache_key(height, width, output_stride),
                                   variant=self._variant)

    def model_bytes(self, height: int, width: int, output_stride: int) -> bytes:
        """Return the int8 model of this size (calibrated now if it was not yet)."""
        return self._model(height, width, output_stride)

    def _model(self, height: int, width: int, output_stride: int) -> bytes:
        key = (height, width, output_stride)
        if key not in self._models:  # else made ahead by posenet_quantize, or before
            # Kept (1-3 MB) so an evicted interpreter is rebuilt fast; one cached before int8
            # models took uint8 is given that input here (21 ms), not calibrated again.
            self._models[key] = with_uint8_input(
                self._calibrated_model(height, width, output_stride))
        return self._models[key]

    def _calibrated_model(self, height: int, width: int, output_stride: int) -> bytes:
        """Return the model of this size from the cache, else calibrated (in a child)."""
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
        return model

    def _build_int8_in_child(self, height: int, width: int, output_stride: int) -> bytes:
        """Calibrate in a child process into the cache (or a scratch file): the model."""
        from .tflite_build import build_in_child_process
        path = tflite_cache.entry_path(self.cache_key(height, width, output_stride))
        if not tflite_cache.writable_folder(path.parent):
            path = self._scratch_folder() / path.name
        start = time.perf_counter()
        model = build_in_child_process(self._weights.descriptor, self._multiplier, height, width,
                                       output_stride, self._num_threads, path,
                                       int8_calibration=self._calibration_file,
                                       quantize_options=dataclasses.asdict(self.options))
        self.convert_seconds[(height, width, output_stride)] = time.perf_counter() - start
        _log.info('calibrated the int8 model %dx%d stride %d in a child process in %.1f s: %s',
                  height, width, output_stride, time.perf_counter() - start, path)
        return model

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


def load_calibration_frames(path: Path) -> CalibrationFrames:
    """
    Return the frames saved by `Int8TfliteBackend` (an .npz of uint8 RGB arrays).

    They remember their file, so a backend given them calibrates from it without a copy.
    """
    with np.load(path) as saved:
        frames = CalibrationFrames(saved[name] for name in saved.files)
    frames.path = Path(path)
    return frames


@dataclass(frozen=True)
class ModelFacts:
    """
    What `check_models` needs of a converted model, read from it without running it.

    key: (input height, input width, output stride). first_weights: the stored weights of its
    first convolution (the one over RGB), [out, 3, 3, 3], None if not found; first_scales:
    their scale per output channel (int8 weights). kernel_types: the type of each
    convolution's weights, in the order they run. inner_types: the types of the tensors
    between its input and outputs other than int8, int32 and float32 (an int8 model of our
    recipe has none), with their counts.
    """

    key: tuple[int, int, int]
    first_weights: np.ndarray | None
    first_scales: np.ndarray | None
    kernel_types: tuple[str, ...]
    inner_types: dict[str, int]

    @property
    def channels(self) -> int | None:
        return None if self.first_weights is None else int(self.first_weights.shape[0])


def describe_model(model: bytes) -> ModelFacts:
    """Return a converted model's size, stride, convolution weights' types and first weights."""
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_content=model)
    _, height, width, _ = interpreter.get_input_details()[0]['shape']
    _, grid_height, _, _ = interpreter.get_output_details()[0]['shape']
    key = int(height), int(width), int((height - 1) // (grid_height - 1))
    ends = {detail['index'] for detail in
            interpreter.get_input_details() + interpreter.get_output_details()}
    tensors = interpreter.get_tensor_details()
    inner_types: dict[str, int] = {}
    for tensor in tensors:
        kind = np.dtype(tensor['dtype']).name
        if tensor['index'] not in ends and kind not in ('int8', 'int32', 'float32'):
            inner_types[kind] = inner_types.get(kind, 0) + 1
    kernels = [tensors[op['inputs'][1]] for op in interpreter._get_ops_details()  # noqa: SLF001
               if op['op_name'] in ('CONV_2D', 'DEPTHWISE_CONV_2D')]
    first_weights = first_scales = None
    for kernel in kernels:
        if tuple(int(side) for side in kernel['shape'][1:]) == (3, 3, 3):
            first_weights = interpreter.get_tensor(kernel['index'])  # a constant: no allocation
            first_scales = np.asarray(kernel['quantization_parameters']['scales'], np.float64)
            break
    return ModelFacts(key, first_weights, first_scales,
                      tuple(np.dtype(kernel['dtype']).name for kernel in kernels), inner_types)


def model_key(model: bytes) -> tuple[int, int, int]:
    """(input height, input width, output stride) of a converted model of our graph."""
    return describe_model(model).key


def check_models(described: list[ModelFacts], weights) -> None:
    """
    Refuse models that are not int8 models of our recipe made from `weights`.

    A model is found by its input size and stride alone: one made from other weights would run
    in their place and be reported as them, and a float32 or 16-bit one would run several times
    slower than int8 (or 34x, docs/int8.md). int8 from the first convolution on, or from the
    one after the float layers of the default options (`QuantizeOptions.float_layers`; models
    calibrated before those are still taken). Made from these weights, the first convolution's
    weights are these weights' `Conv2d_0`: as they are when it runs in float, on TFLite's int8
    grid when in int8 (`int8_grid`, what bias correction rounds to, and what the converter
    rounds to without it): within a thousandth of a step in every int8 model of the cache (286
    measured); other weights of the same width are at least a whole step off somewhere (even
    16-bit-rounded copies of the same float weights).
    """
    conv0 = np.asarray(weights['Conv2d_0/weights'])  # [3, 3, 3, out]
    expected = int(conv0.shape[-1])
    most_float = QuantizeOptions().float_layers
    for facts in described:
        height, width, stride = facts.key
        what = f'the int8 model for {height}x{width} stride {stride}'
        if facts.channels is not None and facts.channels != expected:
            raise ValueError(
                f'{what} was made from other weights: its first layer has {facts.channels} '
                f'channels, these have {expected} (multiplier {weights.multiplier:g}); make it '
                'with posenet_quantize and the same --model')
        kinds = facts.kernel_types
        leading_float = next((i for i, kind in enumerate(kinds) if kind != 'float32'), len(kinds))
        if (facts.inner_types or facts.first_weights is None or leading_float > most_float
                or any(kind != 'int8' for kind in kinds[leading_float:])):
            raise ValueError(f'{what} is not an int8 model ({_types(facts)}; posenet_quantize '
                             'makes int8 models)')
        if facts.first_weights.dtype == np.int8:
            steps = facts.first_scales.reshape(-1, 1, 1, 1)
            grid = np.transpose(int8_grid(conv0), (3, 0, 1, 2))
            off = np.max(np.abs(facts.first_weights * steps - grid) / steps)
            allowed = 0.5
        else:  # runs in float: these weights to the last bit
            stored = np.transpose(conv0, (3, 0, 1, 2))  # [out, 3, 3, 3], as a model stores it
            peaks = np.max(np.abs(stored), axis=(1, 2, 3), keepdims=True)
            steps = np.where(peaks > 0, peaks / 127, 1.0)
            off = np.max(np.abs(facts.first_weights - stored) / steps)
            allowed = 0.0
        if off > allowed:
            raise ValueError(
                f'{what} was made from other weights: its first convolution is up to '
                f'{off:.2g} int8 steps off these weights ({weights.descriptor}); make it with '
                'posenet_quantize and the same --model')


def _types(facts: ModelFacts) -> str:
    """Return e.g. 'convolution weights: 28 float32' or '...: 28 int8; tensors: 61 int16'."""
    def counts(kinds) -> str:
        return ', '.join(f'{count} {kind}' for kind, count in sorted(kinds.items()))
    text = f'convolution weights: {counts(collections.Counter(facts.kernel_types)) or "none"}'
    return text + (f'; tensors: {counts(facts.inner_types)}' if facts.inner_types else '')


def int8_grid(weights: np.ndarray) -> np.ndarray:
    """
    Round weights as TFLite quantizes them: int8 symmetric, one scale per output channel.

    The channel is the last axis: a depthwise kernel [kh, kw, C, 1] is first seen as
    [kh, kw, 1, C]. Here (no TensorFlow) for `check_models`; `quantize`'s bias correction rounds
    to it.
    """
    flat = weights.reshape(weights.shape[:2] + (1, -1)) if weights.shape[-1] == 1 else weights
    peak = np.max(np.abs(flat), axis=(0, 1, 2), keepdims=True)
    scale = np.where(peak > 0, peak / 127.0, 1.0)
    return (np.clip(np.round(flat / scale), -127, 127) * scale).astype(np.float32).reshape(
        weights.shape)


def find_calibrated_model(weights_path: str | os.PathLike, multiplier: float, height: int,
                          width: int, output_stride: int,
                          options: QuantizeOptions = QuantizeOptions()) -> Path | None:
    """
    Return the newest intact int8 model in the cache for these weights, size and stride.

    Whatever it was calibrated on (a node's first camera frames, posenet_quantize's input), but
    made with `options` (the default ones unless told): posenet_int8_study's variants share
    the cache, and one of them would run with another output layout or 34x slower. A damaged
    entry is logged and passed over for an older one; None when none is left.
    """
    key = tflite_cache.TfliteModelKey(
        weights_sha256=tflite_cache.weights_checksum(weights_path), multiplier=multiplier,
        input_height=height, input_width=width, output_stride=output_stride, precision='int8',
        variant=calibrated_variant(options, '*'))
    found = tflite_cache.newest_intact_entry(key)
    return found[0] if found is not None else None


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
