"""
The precision axis of posenet_bench: float32 and int8 inference paths, and int8's calibration.

int8 runs on the tflite path only. It is calibrated once per model, input size and output
stride before anything is timed, on photos that are never scored: by default the photos of
`annotations.json` that are not val photos (docs/int8.md). The calibrated models land in the
model cache (`$POSENET_CACHE/tflite`, keyed by a digest of the calibration frames), where
posenet_node, given the same photos as `int8_calibration`, finds them instead of calibrating.
"""
from __future__ import annotations

from dataclasses import dataclass
import os
from pathlib import Path
import shutil
import tempfile
import time

from posenet_tools.bench.grid import BenchCase, error_reason
from posenet_tools.shared_data import coco_calibration_photos

PRECISIONS = ('float32', 'int8')


@dataclass(frozen=True)
class BenchPath:
    """One inference path of the grid: a backend at a precision."""

    backend: str | None       # None: the estimator's default
    precision: str = 'float32'
    primary: bool = True      # the node's path at this precision: timed through ROS, scored

    @property
    def label(self) -> str:
        return f"{self.backend or 'default'} {self.precision}"


def bench_paths(backends: list, precisions: list[str]) -> list[BenchPath]:
    """
    Return float32 on every backend, then int8 on tflite.

    The first backend is the node's float32 path; int8 has one path. ValueError for an unknown
    precision, or int8 without the tflite path among the backends.
    """
    unknown = [p for p in precisions if p not in PRECISIONS]
    if unknown or not precisions:
        raise ValueError(f"precisions must be among {', '.join(PRECISIONS)}, got "
                         f"{', '.join(precisions) or 'none'}")
    paths = []
    if 'float32' in precisions:
        paths += [BenchPath(b, 'float32', i == 0) for i, b in enumerate(backends)]
    if 'int8' in precisions:
        if not any(b in (None, 'tflite') for b in backends):
            raise ValueError('int8 runs on the tflite path only: add tflite to --backends')
        paths.append(BenchPath('tflite', 'int8', True))
    return paths


def check_int8_calibration(source: Path | None) -> None:
    """Refuse a calibration source that is missing or a .tflite (a model has one size)."""
    if source is None:
        return
    if not source.exists():
        raise ValueError(f'--int8-calibration {source} does not exist')
    if source.suffix == '.tflite':
        raise ValueError('--int8-calibration takes photos or a video to calibrate every input '
                         'size and stride on, not one .tflite model')


class Int8Calibration:
    """
    What int8 is calibrated on: a folder of photos or a video, read as posenet_node reads it.

    Without a source, a temporary folder linking the non-val COCO photos of the shared data
    (removed by `close`). The same frames give the same model cache entries in this process and
    in the node.
    """

    def __init__(self, source: Path | None = None):
        self._temporary = None
        if source is None:
            source = self._temporary = self._link_coco_photos()
        self.path = Path(source).resolve()
        self.description = ('photos of annotations.json that are not val photos'
                            if self._temporary else str(source))
        self._images = None

    @staticmethod
    def _link_coco_photos() -> Path:
        """
        Return a temporary folder linking the non-val COCO photos.

        ValueError when they cannot be listed (no annotations), with nothing left behind.
        """
        try:
            photos = coco_calibration_photos()
        except (OSError, ValueError, KeyError) as error:
            raise ValueError(f'no photos to calibrate int8 on ({error_reason(error)}): pass '
                             '--int8-calibration PHOTOS_OR_VIDEO') from None
        folder = Path(tempfile.mkdtemp(prefix='posenet_bench_int8_'))
        try:
            for photo in photos:
                os.symlink(photo, folder / photo.name)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return folder

    @property
    def images(self) -> list:
        """Return the calibration frames (uint8 RGB), read once."""
        if self._images is None:
            from posenet_ros.engine.int8_backend import read_calibration_images
            self._images = read_calibration_images(self.path)
        return self._images

    def node_parameters(self) -> dict:
        """Return the node's parameters for int8 calibrated on these frames."""
        return {'precision': 'int8', 'int8_calibration': str(self.path)}

    def close(self) -> None:
        if self._temporary is not None:
            shutil.rmtree(self._temporary, ignore_errors=True)


def make_path_estimator(model: str, path: BenchPath, calibration: Int8Calibration | None):
    """Return the PoseEstimator of a path (int8: calibrated on `calibration` when needed)."""
    from posenet_ros.engine.estimator import PoseEstimator
    if path.precision == 'int8':
        return PoseEstimator(model, backend='tflite', precision='int8',
                             calibration_images=calibration.images)
    return PoseEstimator(model) if path.backend is None else PoseEstimator(model,
                                                                           backend=path.backend)


def calibrate(estimator, model: str, cases: list[BenchCase], log) -> dict[str, dict]:
    """
    Build the int8 model of every input size and stride of the cases, before any timing.

    From the model cache when there, else calibrated now. Returns, per 'HxW sS', the seconds
    it took and whether it was calibrated or an error.
    """
    done = {}
    for case in cases:
        config = case.config().snapped()
        key = f'{config.input_height}x{config.input_width} s{config.output_stride}'
        if key in done:
            continue
        start = time.perf_counter()
        try:
            config.check(estimator.multiplier)
            cached = estimator.cached_model_path(config) is not None
            estimator.warmup(config)
        except Exception as error:  # e.g. a stride the model cannot do: its rows say so
            done[key] = {'error': error_reason(error)}
            continue
        seconds = time.perf_counter() - start
        done[key] = {'seconds': round(seconds, 1), 'calibrated': not cached}
        log(f"{model} {key} [tflite int8]: {'calibrated' if not cached else 'from the cache'} "
            f'in {seconds:.1f} s (not timed)')
        if estimator.cached_model_path(config) is None:
            log(f'note: {model} {key} int8 is not in the model cache: posenet_node will '
                'calibrate it itself')
    return done
