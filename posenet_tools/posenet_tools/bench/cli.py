"""
posenet_bench: how fast each stage of posenet_ros runs, per configuration, beside the original.

For every model x output stride x input size x decoding x inference path x precision (float32;
int8 on the tflite path, calibrated before timing) it times, on the same photos, after warm-up:
the conversion of a ROS image message to pixels, preprocessing, inference, pose decoding, the
building of the PoseArray message, the estimate call and the whole in-process pipeline (message
in -> message out). In the same run the original tfjs PoseNet 2.2.2
(Node.js, wasm backend, same weights and photos; `posenet_tools.tfjs_reference`) is timed on the
same configuration, and our speed is given as a ratio to it. Medians and 90th percentiles. The
report ends with the speed goals checked within the run (int8's network >= 2x float32's;
through ROS >= 8x the original at 0.75 353x481 stride 16 multi, >= 5x everywhere).

    posenet_bench --quick                          # one small configuration: a smoke test
    posenet_bench --out docs/benchmarks/NAME       # the whole grid: NAME.json, NAME.md, plots
    posenet_bench --accuracy ...                   # also COCO AP per configuration (AP vs FPS)

Timings vary with the machine and its load: the table records the CPU, core count and load.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
import sys

from posenet_ros.engine.heap import reuse_frame_memory
from posenet_ros.engine.image_io import InputReadError
from posenet_ros.engine.opencv_pool import sleep_idle_workers
from posenet_ros.engine.resolution import parse_resolution
from posenet_ros.tools.estimate import positive_int
from posenet_tools.bench.grid import (available_backends, BenchCase, BenchOptions, build_grid,
                                      DEFAULT_MODELS, DEFAULT_MODES, DEFAULT_RESOLUTIONS,
                                      DEFAULT_STRIDES)
from posenet_tools.bench.precision import bench_paths, check_int8_calibration
from posenet_tools.bench.report import to_text_table, write_report
from posenet_tools.bench.run import run_bench
from posenet_tools.shared_data import shared_dir


# -- command line -----------------------------------------------------------------------------

def _csv(text: str) -> list[str]:
    return [item.strip() for item in text.split(',') if item.strip()]


# What a full run and a --quick smoke run measure, unless given on the command line.
FULL_RUN = {'models': list(DEFAULT_MODELS), 'strides': [str(s) for s in DEFAULT_STRIDES],
            'resolutions': list(DEFAULT_RESOLUTIONS), 'modes': list(DEFAULT_MODES),
            'backends': None, 'repeat': 5, 'original': True, 'ros': True, 'photos': None,
            'precisions': ['float32', 'int8']}
QUICK_RUN = {'models': ['mobilenet_quant2_075'], 'strides': ['16'], 'resolutions': ['257'],
             'modes': ['single', 'multi'], 'backends': ['default'], 'repeat': 2,
             'original': False, 'ros': False, 'photos': 2, 'precisions': ['float32']}


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='posenet_bench',
        description='Per-stage timing of posenet_ros over a configuration grid, beside the '
                    'original tfjs PoseNet (Node.js, wasm).')
    parser.add_argument('--quick', action='store_true',
                        help='smoke run: 0.75, stride 16, 257, single and multi, default path, '
                             'float32, 2 photos x 2, no original (options given still apply)')
    parser.add_argument('--models', type=_csv,
                        help='comma-separated model names or folders '
                             f"({','.join(DEFAULT_MODELS)})")
    parser.add_argument('--strides', type=_csv,
                        help=f"comma-separated ({','.join(map(str, DEFAULT_STRIDES))})")
    parser.add_argument('--resolutions', type=_csv,
                        help=f"comma-separated N or HxW ({','.join(DEFAULT_RESOLUTIONS)})")
    parser.add_argument('--modes', type=_csv, help=f"comma-separated ({','.join(DEFAULT_MODES)})")
    parser.add_argument('--backends', type=_csv,
                        help='inference paths (default: every compiled one the engine offers, but '
                             "XLA on a CPU; 'default' for the estimator's default)")
    parser.add_argument('--precisions', type=_csv,
                        help='comma-separated float32,int8 (default: both; float32 with --quick). '
                             'int8 runs on the tflite path, each input size and stride '
                             'calibrated once before timing (not counted) and reused by '
                             'posenet_node through the model cache')
    parser.add_argument('--int8-calibration', type=Path, metavar='PHOTOS_OR_VIDEO',
                        help='folder of photos or video int8 is calibrated on (default: the '
                             'photos of <shared>/data/coco_kpts/annotations.json that are not '
                             'val photos: never a photo AP is scored on)')
    parser.add_argument('--images', type=Path, nargs='+',
                        help='photos (default: the 6 of <shared>/data/smoke)')
    parser.add_argument('--repeat', type=int, help='timed passes over the photos (5)')
    parser.add_argument('--original', action=argparse.BooleanOptionalAction,
                        help='time the original through Node.js too (default: yes, except '
                             'with --quick)')
    parser.add_argument('--original-repeat', type=positive_int, default=None,
                        help='runs per photo for the original (default: --repeat)')
    parser.add_argument('--ros', action=argparse.BooleanOptionalAction,
                        help='time frames through posenet_node over DDS and run it at camera '
                             'rates (default: yes, except with --quick)')
    parser.add_argument('--ros-repeat', type=positive_int, default=None,
                        help='timed passes over the photos through ROS (default: --repeat)')
    parser.add_argument('--camera-rates', type=_csv, default=['30', '100'],
                        help="camera rates in Hz for the node ('' for none; default 30,100)")
    parser.add_argument('--camera-seconds', type=float, default=60.0,
                        help='how long each camera rate runs (default 60)')
    parser.add_argument('--camera-config', default='mobilenet_quant2_075:16:353x481:multi',
                        help='MODEL:STRIDE:RESOLUTION:MODE of the camera-rate runs '
                             '(default %(default)s)')
    parser.add_argument('--image-reliability', choices=('best_effort', 'reliable'),
                        help="override the node's image subscription QoS (default: the node's, "
                             'best effort)')
    parser.add_argument('--accuracy', action='store_true',
                        help='also COCO keypoint AP per configuration (44 photos each)')
    parser.add_argument('--out', type=Path, default=None,
                        help='write OUT.json, OUT.md and plots OUT_speed.png, OUT_ap_fps.png')
    parser.add_argument('--no-plots', dest='plots', action='store_false')
    return parser


def _parse_camera_config(text: str) -> BenchCase:
    parts = text.split(':')
    if len(parts) != 4 or not parts[1].isdigit() or parts[3] not in DEFAULT_MODES:
        raise ValueError(f'--camera-config must be MODEL:STRIDE:RESOLUTION:MODE, e.g. '
                         f'mobilenet_quant2_075:16:353x481:multi; got {text!r}')
    height, width = parse_resolution(parts[2])
    case = BenchCase(parts[0], int(parts[1]), height, width, parts[3])
    case.config().check()
    return case


def parse_arguments(argv=None) -> argparse.Namespace:
    """Return the command line with what was not given filled in (a full or a --quick run)."""
    args = _build_parser().parse_args(argv)
    defaults = QUICK_RUN if args.quick else FULL_RUN
    for name in ('models', 'strides', 'resolutions', 'modes', 'backends', 'repeat', 'original',
                 'ros', 'precisions'):
        if getattr(args, name) is None:
            setattr(args, name, defaults[name])
    if not args.images:
        smoke = sorted((shared_dir() / 'data' / 'smoke').glob('*.jpg'))
        args.images = smoke[:defaults['photos']] if defaults['photos'] else smoke
    return args


def main(argv=None) -> int:
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # TensorFlow's start-up INFO lines
    args = parse_arguments(argv)
    reuse_frame_memory()  # as posenet_node and posenet_estimate do (engine/heap.py)
    sleep_idle_workers()  # as they do too, before OpenCV loads (engine/opencv_pool.py)
    images = args.images
    try:
        if not all(s.isdigit() for s in args.strides):
            raise ValueError(f'strides must be whole numbers (8, 16, 32), got {args.strides}')
        strides = [int(s) for s in args.strides]
        cases = build_grid(args.models, strides, args.resolutions, args.modes)
        for case in cases:
            case.config().check()
        camera_case = _parse_camera_config(args.camera_config)
        camera_rates = tuple(float(r) for r in args.camera_rates)
        if any(r <= 0 for r in camera_rates) or args.camera_seconds < 0:
            raise ValueError('camera rates and --camera-seconds must be positive')
    except ValueError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    missing = [p for p in images if not Path(p).is_file()]
    if not images or missing:
        shown = ', '.join(str(p) for p in missing[:3]) or 'none given'
        print(f'error: photos not found: {shown} (set POSENET_SHARED or pass --images)',
              file=sys.stderr)
        return 2
    if args.repeat < 1:
        print('error: --repeat must be at least 1', file=sys.stderr)
        return 2
    if args.backends is None:
        backends = available_backends()
    else:
        backends = [None if b == 'default' else b for b in args.backends]
    try:
        paths = bench_paths(backends, args.precisions)
        check_int8_calibration(args.int8_calibration)
    except ValueError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    options = BenchOptions(
        repeat=args.repeat, original=args.original, original_repeat=args.original_repeat,
        accuracy=args.accuracy, ros=args.ros, ros_repeat=args.ros_repeat,
        camera_rates=camera_rates, camera_seconds=args.camera_seconds, camera_case=camera_case,
        image_reliability=args.image_reliability, int8_calibration=args.int8_calibration)
    try:
        report = run_bench(cases, paths, images, options,
                           log=lambda line: print(line, file=sys.stderr, flush=True))
    except (InputReadError, ValueError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    print(to_text_table(report))
    if args.out:
        for path in write_report(report, args.out, plots=args.plots):
            print(f'wrote {path}')
    if all(row.get('error') for row in report['rows']):
        print('error: no configuration could be measured (reasons above)', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
