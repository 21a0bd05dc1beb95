"""
What posenet_bench measures.

The configuration grid, the timing of our engine per stage, the rows of the report.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
import time

import numpy as np
from posenet_ros.engine.config import EstimateConfig
from posenet_ros.engine.model_store import multiplier_from_model_name
from posenet_ros.engine.resolution import parse_resolution, resolution_label

DEFAULT_MODELS = ('mobilenet_float_050', 'mobilenet_quant2_075')
DEFAULT_STRIDES = (8, 16)
DEFAULT_RESOLUTIONS = ('257', '353x481', '641x641')
DEFAULT_MODES = ('single', 'multi')
# Multi-pose settings of the library's camera demo (those of the original's quoted figures).
MULTI_SETTINGS = {'max_pose_detections': 10, 'score_threshold': 0.1, 'nms_radius': 30.0}

# Stages in pipeline order; 'estimate' is the estimator call, 'pipeline' the whole in-process
# path from the image message to the PoseArray message.
STAGES = ('ros_image', 'preprocess', 'inference', 'decode', 'message', 'estimate', 'pipeline')
STAGE_TITLES = {'ros_image': 'ROS image', 'preprocess': 'preproc', 'inference': 'inference',
                'decode': 'decode', 'message': 'message', 'estimate': 'estimate',
                'pipeline': 'pipeline'}


@dataclass(frozen=True)
class BenchCase:
    """One configuration of the grid (independent of the inference path)."""

    model: str
    stride: int
    height: int
    width: int
    mode: str

    @property
    def resolution(self) -> str:
        return resolution_label(self.height, self.width)

    @property
    def label(self) -> str:
        return f'{self.model} s{self.stride} r{self.resolution} {self.mode}'

    def config(self) -> EstimateConfig:
        extra = MULTI_SETTINGS if self.mode == 'multi' else {}
        return EstimateConfig(output_stride=self.stride, input_height=self.height,
                              input_width=self.width, decoding=self.mode, **extra)


def stats(samples) -> dict:
    """Median, 90th percentile, min and count of timings in ms (NaN-free)."""
    values = np.asarray([s for s in samples if s is not None and np.isfinite(s)], dtype=np.float64)
    if values.size == 0:
        return {'median': None, 'p90': None, 'min': None, 'n': 0}
    return {'median': float(np.median(values)), 'p90': float(np.percentile(values, 90)),
            'min': float(values.min()), 'n': int(values.size)}


def build_grid(models, strides, resolutions, modes) -> list[BenchCase]:
    cases = []
    for model in models:
        for stride in strides:
            for resolution in resolutions:
                height, width = parse_resolution(resolution)
                for mode in modes:
                    cases.append(BenchCase(model, int(stride), height, width, mode))
    return cases


# -- the ROS ends of the pipeline -----------------------------------------------------------

class RosStages:
    """
    Image message -> pixels and EstimateResult -> PoseArray, as the node does them.

    Uses the node's own conversion code; unavailable (and those columns empty) where rclpy or
    the built posenet_msgs cannot be imported. The PoseArray is what the node publishes: its
    serialized bytes where the middleware takes them (`stages/poses.py`), else the message.
    """

    def __init__(self, encoding: str = 'bgr8'):
        self.encoding = encoding
        self.error = None
        try:
            from std_msgs.msg import Header

            from posenet_ros.engine.people import PeopleFrame
            from posenet_ros.ros.image_conversion import image_to_rgb, rgb_to_image_msg
            from posenet_ros.ros.pose_array_wire import pose_array_builder
            build = pose_array_builder()
        except Exception as error:  # ImportError, or a message package not built/sourced
            self.error = f'{type(error).__name__}: {error}'
            return
        self._header = Header
        self.image_to_rgb = image_to_rgb
        self.rgb_to_image_msg = rgb_to_image_msg
        self.to_pose_array = (
            lambda result, header: build(PeopleFrame.from_result(result), header))

    @property
    def available(self) -> bool:
        return self.error is None

    def image_message(self, rgb: np.ndarray):
        header = self._header(frame_id='camera')
        return self.rgb_to_image_msg(rgb, header=header, encoding=self.encoding)


# -- timing our engine ----------------------------------------------------------------------

def warm_up(estimator, config: EstimateConfig, photos, ros: RosStages | None,
            messages=None) -> None:
    """Build what the config needs and run every photo size once: shapes traced, caches warm."""
    estimator.warmup(config)
    for index, photo in enumerate(photos):
        result = estimator.estimate(photo, config)
        if ros is not None and ros.available:
            ros.to_pose_array(result, messages[index].header)


def time_passes(estimators: list, config: EstimateConfig, photos, repeat: int,
                ros: RosStages | None, messages=None) -> list[dict[str, list[float]]]:
    """
    Return per-stage timings (ms) of `repeat` passes over the photos for each estimator.

    The estimators (warmed up) take turns pass by pass, so that a shared machine's load moves
    all of them alike and their ratios hold.
    """
    samples = [{stage: [] for stage in STAGES} for _ in estimators]
    use_ros = ros is not None and ros.available
    for _ in range(repeat):
        for estimator, into in zip(estimators, samples):
            for index, photo in enumerate(photos):
                _time_frame(estimator, config, photo, ros if use_ros else None,
                            messages[index] if use_ros else None, into)
    return samples


def _time_frame(estimator, config: EstimateConfig, photo, ros: RosStages | None, message,
                samples: dict[str, list]) -> None:
    """Time one frame, message in -> message out, into `samples` (stage -> ms)."""
    start = time.perf_counter()
    rgb = ros.image_to_rgb(message) if ros else photo
    converted = time.perf_counter()
    result = estimator.estimate(rgb, config)
    estimated = time.perf_counter()
    if ros:
        ros.to_pose_array(result, message.header)
    end = time.perf_counter()
    timings = result.timings_ms or {}
    samples['ros_image'].append((converted - start) * 1e3 if ros else None)
    for stage in ('preprocess', 'inference', 'decode'):
        samples[stage].append(timings.get(stage))
    samples['message'].append((end - estimated) * 1e3 if ros else None)
    samples['estimate'].append((estimated - converted) * 1e3)
    samples['pipeline'].append((end - start) * 1e3)


def available_backends() -> list[str]:
    """
    Return the engine's compiled inference paths, its default first.

    Eager, for debugging, is left out.

    XLA is left out on a CPU too: there it is 5-20x slower than the other paths and would make
    the full grid take hours; time it at one configuration with `--backends xla`.
    """
    from posenet_ros.engine.network import BACKENDS, default_backend, resolve_device
    device = resolve_device('auto')
    default = default_backend(device)
    skipped = ('eager', default) if 'GPU' in device else ('eager', 'xla', default)
    return [default] + [name for name in BACKENDS if name not in skipped]


def model_folder(model: str) -> Path:
    """Return the weights folder of a model name or path, as the estimator resolves it."""
    from posenet_ros.engine.model_store import resolve_model
    path = Path(resolve_model(model))
    return path if path.is_dir() else path.parent


@dataclass
class BenchOptions:
    """What to measure besides the in-process stages."""

    repeat: int = 5                  # timed passes over the photos, per configuration
    original: bool = True            # time tfjs PoseNet (Node.js, wasm) too
    original_repeat: int | None = None
    accuracy: bool = False           # COCO AP per configuration
    ros: bool = False                # frame latency through posenet_node over DDS (first path)
    ros_repeat: int | None = None
    camera_rates: tuple[float, ...] = (30.0, 100.0)
    camera_seconds: float = 60.0
    camera_case: BenchCase = BenchCase('mobilenet_quant2_075', 16, 353, 481, 'multi')
    image_reliability: str | None = None  # the node's image subscription; None: its default
    int8_calibration: Path | None = None  # folder or video; None: the non-val COCO photos


def error_reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f'{type(error).__name__}: {text[0] if text else ""}'


def make_row(case: BenchCase, backend, samples, error=None, precision: str = 'float32',
             multiplier: float | None = None) -> dict:
    """
    Return the report's row of a case on a path, timed (`samples`) or not (`error`).

    `multiplier`: the estimator's, read from the weights; without one (no estimator), the
    model name's, None for a folder whose name does not end in its width.
    """
    if multiplier is None:
        multiplier = multiplier_from_model_name(Path(case.model).name)
    row = {'model': case.model, 'multiplier': multiplier,
           'stride': case.stride, 'height': case.height, 'width': case.width,
           'resolution': case.resolution, 'mode': case.mode, 'backend': backend,
           'precision': precision, 'error': error}
    if samples is not None:
        row['stages'] = {stage: stats(values) for stage, values in samples.items()}
        row['samples_ms'] = {stage: [round(v, 3) for v in values if v is not None]
                             for stage, values in samples.items()}
    return row


def case_of(row: dict) -> BenchCase:
    return BenchCase(row['model'], row['stride'], row['height'], row['width'], row['mode'])


def stage_median(row: dict | None, stage: str):
    """Return a row's median ms of one stage, None if the row or the stage was not timed."""
    return ((row or {}).get('stages') or {}).get(stage, {}).get('median')
