"""
PoseEstimator: image in, poses in image pixels out, as tfjs-models posenet 2.x estimates them.

Weights are resolved and loaded once; the network per output stride (and, for TFLite, per input
size) is built on first use and cached, so changing stride or input size between frames never
reloads anything.
"""
from __future__ import annotations

import time

import numpy as np

from .config import EstimateConfig
from .flip_test import average_with_mirror
from .model_store import resolve_model
from .network import PoseNetwork
from .poses import poses_from_outputs
from .preprocess import check_frame_budget
from .types import EstimateResult, NetworkOutputs, Padding
from .weights import load_weights


class PoseEstimator:
    """
    PoseNet (MobileNetV1) pose estimation on one model, device and backend.

    model: a model name (see `model_store.MODEL_NAMES`) or a folder with weights of either
    published format. multiplier: only needed to complete a family name ('mobilenet_quant2')
    or to mark 1.0-shaped weights as 1.01. device: 'auto' (GPU if TensorFlow sees one), 'cpu'
    or 'gpu'. backend: see `network.BACKENDS`; default the fastest that keeps parity.
    num_threads: threads inference may use (XNNPACK, TensorFlow); 0: every core.
    precision: 'float32' (the original's results) or 'int8' (TFLite only, about twice as fast,
    calibrated per input size on `calibration_images`, uint8 RGB frames like those it will see;
    `quantize.read_calibration_images` reads a folder or a video; docs/int8.md), or
    `int8_models` made ahead by posenet_quantize (one per input size and stride).
    """

    def __init__(self, model: str = 'mobilenet_quant2_075', *, multiplier: float | None = None,
                 device: str = 'auto', backend: str | None = None, num_threads: int = 0,
                 precision: str = 'float32',
                 calibration_images=None, quantize_options=None, int8_models=()):
        self._model_path = resolve_model(model, multiplier)
        weights = load_weights(self._model_path, multiplier)
        folder = self._model_path if self._model_path.is_dir() else self._model_path.parent
        self._model_name = folder.name
        self._network = PoseNetwork(weights, backend=backend, device=device,
                                    num_threads=num_threads, precision=precision,
                                    calibration_images=calibration_images,
                                    quantize_options=quantize_options, int8_models=int8_models)

    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def model_path(self):
        return self._model_path

    @property
    def multiplier(self) -> float:
        return self._network.multiplier

    @property
    def device(self) -> str:
        """Return the TensorFlow device the network runs on ('/CPU:0' or '/GPU:0')."""
        return self._network.device

    @property
    def backend(self) -> str:
        return self._network.backend

    @property
    def num_threads(self) -> int:
        """Threads inference may use; 0: every core."""
        return self._network.num_threads

    @property
    def precision(self) -> str:
        return self._network.precision

    def int8_model(self, input_height: int, input_width: int, output_stride: int) -> bytes:
        """Return the calibrated int8 TFLite model of this size (made now if needed), to save."""
        if self.precision != 'int8':
            raise ValueError('int8_model needs an estimator made with precision int8')
        self._network.prepare(input_height, input_width, output_stride)
        return self._network.inference.model_bytes(input_height, input_width, output_stride)

    def warmup(self, config: EstimateConfig, image_height: int | None = None,
               image_width: int | None = None) -> None:
        """
        Build everything `estimate` needs for this config, so the first frame is not slow.

        With `match_aspect_ratio` the input size depends on the image: give the image size the
        frames will have (a camera's) to prepare that one. May be called from another thread
        while `estimate` serves frames of the sizes already built (see `PoseNetwork.prepare`).
        """
        config = self._checked(config)
        if image_height and image_width:
            config = config.for_image(image_height, image_width)
        self._network.prepare(config.input_height, config.input_width, config.output_stride)

    def cached_model_path(self, config: EstimateConfig):
        """
        Return the disk cache file of the TFLite model this config runs (`tflite_cache`).

        None for another backend, or when not converted yet.
        """
        config = self._checked(config)
        return self._network.cached_model_path(config.input_height, config.input_width,
                                               config.output_stride)

    def infer(self, image_rgb: np.ndarray, config: EstimateConfig
              ) -> tuple[NetworkOutputs, Padding, tuple[int, int]]:
        """
        Return the outputs `estimate` decodes, the padding used and the input size.

        Outputs on the model-input grid, mirror-averaged with `flip_test`; the input size
        snapped, the image's own with `match_aspect_ratio`.
        """
        config, outputs, padding, _ = self._run_network(image_rgb, config)
        return outputs, padding, (config.input_height, config.input_width)

    def estimate(self, image_rgb: np.ndarray, config: EstimateConfig) -> EstimateResult:
        """
        Poses in `image_rgb` (uint8 H x W x 3, RGB), in its pixel coordinates.

        With the default options this is the original PoseNet; `match_aspect_ratio`,
        `flip_test`, `refine_keypoints` and `pose_score_keypoints` add the steps that raise
        accuracy (docs/accuracy.md).
        """
        start = time.perf_counter()
        config, outputs, padding, timings = self._run_network(image_rgb, config)
        decode_start = time.perf_counter()
        height, width = image_rgb.shape[:2]
        poses = poses_from_outputs(outputs, config, padding, height, width)
        end = time.perf_counter()
        timings = {**timings, 'decode': (end - decode_start) * 1e3, 'total': (end - start) * 1e3}
        return EstimateResult(poses=poses, image_height=height, image_width=width,
                              input_height=config.input_height, input_width=config.input_width,
                              output_stride=config.output_stride, timings_ms=timings)

    def _run_network(self, image_rgb: np.ndarray, config: EstimateConfig
                     ) -> tuple[EstimateConfig, NetworkOutputs, Padding, dict[str, float]]:
        """
        Return the config as used, the outputs to decode, the padding and the timings.

        The config checked, snapped, image-shaped with `match_aspect_ratio`; the
        outputs to decode (mirror-averaged with `flip_test`, the averaging counted as
        inference), the padding and the network's timings.
        """
        config = self._checked(config)
        if getattr(image_rgb, 'ndim', 0) == 3 and min(image_rgb.shape[:2]) >= 1:
            if config.match_aspect_ratio:
                config = config.for_image(image_rgb.shape[0], image_rgb.shape[1])
            check_frame_budget(image_rgb.shape[0], image_rgb.shape[1], config.input_height,
                               config.input_width, config.flip_test)
        size = (config.input_height, config.input_width, config.output_stride)
        if not config.flip_test:
            outputs, padding, timings = self._network.run(image_rgb, *size)
            return config, outputs, padding, timings
        plain, mirrored, padding, timings = self._network.run_with_mirror(image_rgb, *size)
        average_start = time.perf_counter()
        outputs = average_with_mirror(plain, mirrored)
        averaging_ms = (time.perf_counter() - average_start) * 1e3
        timings = {**timings, 'inference': timings.get('inference', 0.0) + averaging_ms}
        return config, outputs, padding, timings

    def _checked(self, config: EstimateConfig) -> EstimateConfig:
        config.check(self.multiplier)
        return config.snapped()
