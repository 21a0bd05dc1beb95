"""
posenet_quantize: calibrate the int8 model of one input size and stride, ahead of use.

    posenet_quantize photos/ --resolution 353x481 --stride 16 --out posenet_353x481_s16.tflite
    posenet_quantize clip.mp4 --resolution 353x481

Calibration takes a minute or so on a robot's CPU (about 50 frames through the float model),
so it is done once, on frames like the ones the robot will see (its own camera's, not the test
set's), and the model file is then given to `posenet_estimate --precision int8 --calibration
FILE.tflite`. Bad options exit with status 2 before any work; unreadable calibration input
exits with status 2 and a message.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
import sys
import time

from posenet_ros.engine.atomic_write import write_file_atomic
from posenet_ros.engine.config import EstimateConfig
from posenet_ros.engine.image_io import InputReadError
from posenet_ros.tools.estimate import DEFAULT_MODEL, parse_resolution, positive_int


def default_output(model: str, height: int, width: int, stride: int) -> Path:
    """
    Return where the model goes without --out.

    That is the weights' cache folder (`model_store.cache_dir`), under int8/, named by what
    it is for.
    """
    from posenet_ros.engine.model_store import cache_dir
    return cache_dir() / 'int8' / f'{Path(model).name}_{height}x{width}_s{stride}.tflite'


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='posenet_quantize',
        description='Calibrate an int8 PoseNet model (one input size and stride) on photos '
                    'or a video; the result goes to posenet_estimate --calibration.')
    parser.add_argument('calibration', type=Path, metavar='PHOTOS_OR_VIDEO',
                        help='a folder of photos or a video like the frames the model will see')
    parser.add_argument('--model', default=DEFAULT_MODEL, help='model name or weights folder')
    parser.add_argument('--multiplier', type=float, default=None)
    parser.add_argument('--stride', type=int, default=16, choices=(8, 16, 32))
    parser.add_argument('--resolution', type=parse_resolution, default='257', metavar='N|HxW')
    parser.add_argument('--frames', type=positive_int, default=48,
                        help='calibration frames, spread over the input (default %(default)s)')
    parser.add_argument('--out', type=Path, default=None, metavar='FILE.tflite',
                        help='default: <weights cache>/int8/'
                             '<model>_<HxW>_s<stride>.tflite')
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    height, width = args.resolution
    config = EstimateConfig(output_stride=args.stride, input_height=height, input_width=width)
    try:
        config.check(args.multiplier)
    except ValueError as error:
        parser.error(str(error))
    config = config.snapped()
    out = args.out or default_output(args.model, config.input_height, config.input_width,
                                     config.output_stride)
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    from posenet_ros.engine.estimator import PoseEstimator
    from posenet_ros.engine.model_store import ModelNotFoundError
    from posenet_ros.engine.int8_backend import read_calibration_images
    start = time.perf_counter()
    try:
        images = read_calibration_images(args.calibration, args.frames)
        estimator = PoseEstimator(args.model, multiplier=args.multiplier, device='cpu',
                                  backend='tflite', precision='int8', calibration_images=images)
        config.check(estimator.multiplier)
        model = estimator.int8_model(config.input_height, config.input_width,
                                     config.output_stride)
        write_file_atomic(out, model)
    except ModelNotFoundError as error:
        print(error, file=sys.stderr)
        return 2
    except (ValueError, InputReadError, OSError) as error:
        print(f'posenet_quantize: {error}', file=sys.stderr)
        return 2
    print(f'{out}: int8 model of {estimator.model_name} at {config.input_height}x'
          f'{config.input_width} stride {config.output_stride}, calibrated on {len(images)} '
          f'frames of {args.calibration} in {time.perf_counter() - start:.0f} s', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
