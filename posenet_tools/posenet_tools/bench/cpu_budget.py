"""
posenet_bench_cpu: CPU seconds per frame beside wall time, per thread budget (`num_threads`).

A robot's computer is shared: what a frame costs in CPU time (all of the process's threads)
matters as much as how long it takes. For each configuration and thread count an estimator with
that `num_threads` runs the same photos; rounds are interleaved across the cases so a change of
the machine's load hits all of them alike. Printed per case: median wall time per frame, CPU
seconds per frame (`time.process_time`: every thread of this process), the CPU/wall ratio (the
cores kept busy on average) and the preprocessing's share. Both precisions by default: int8 is
what config/posenet.yaml runs (calibrated as posenet_bench calibrates it, so the models come
from the same cache entries).

    posenet_bench_cpu                          # 0.75, 257 and 353x481, 1 and 2, float32 and int8
    posenet_bench_cpu --threads 1,2,4 --rounds 10 --precisions int8
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
import statistics
import sys
import time

from posenet_ros.engine.config import EstimateConfig
from posenet_ros.engine.heap import reuse_frame_memory
from posenet_ros.engine.image_io import load_image_rgb
from posenet_ros.engine.opencv_pool import limit_opencv_threads, sleep_idle_workers
from posenet_ros.engine.resolution import parse_resolution
from posenet_ros.engine.tf_runtime import thread_count
from posenet_tools.bench.precision import Int8Calibration
from posenet_tools.shared_data import shared_dir


def _csv(text: str) -> list[str]:
    return [item.strip() for item in text.split(',') if item.strip()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='posenet_bench_cpu',
                                     description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', default='mobilenet_quant2_075')
    parser.add_argument('--resolutions', type=_csv, default=['257', '353x481'])
    parser.add_argument('--stride', type=int, default=16)
    parser.add_argument('--threads', type=_csv, default=['1', '2'],
                        help='num_threads values (0: every core; default 1,2)')
    parser.add_argument('--backend', default='tflite')
    parser.add_argument('--precisions', type=_csv, default=['float32', 'int8'],
                        help='float32, int8 or both (default); int8 runs on tflite')
    parser.add_argument('--mode', default='multi', choices=('single', 'multi'))
    parser.add_argument('--rounds', type=int, default=5, help='passes over the photos (5)')
    parser.add_argument('--images', type=Path, nargs='+',
                        help='photos (default: the 6 of <shared>/data/smoke)')
    args = parser.parse_args(argv)
    reuse_frame_memory()  # the process set up as posenet_node sets up its own
    sleep_idle_workers()
    unknown = set(args.precisions) - {'float32', 'int8'}
    if unknown or not args.precisions:
        parser.error(f"--precisions takes float32 and/or int8, got {','.join(args.precisions)}")
    images = [load_image_rgb(path) for path in
              (args.images or sorted((shared_dir() / 'data' / 'smoke').glob('*.jpg')))]
    if not images:
        print('error: no photos (set POSENET_SHARED or pass --images)', file=sys.stderr)
        return 2
    calibration = Int8Calibration() if 'int8' in args.precisions else None
    try:
        cases = _cases(args, images, calibration)
        _time_cases(cases, images, args.rounds)
    finally:
        if calibration is not None:
            calibration.close()
    print(f'{args.model}, {args.backend}, {args.mode}, {len(images)} photos x {args.rounds} '
          f'rounds, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at the end')
    print('| input | stride | precision | num_threads | wall ms/frame (median) | CPU s/frame | '
          'CPU/wall | preprocess ms (median) |')
    print('| --- | --- | --- | --- | --- | --- | --- | --- |')
    for case in sorted(cases, key=lambda c: (c['config'].input_height * c['config'].input_width,
                                             c['precision'], c['threads'])):
        config = case['config']
        wall = statistics.median(case['wall'])
        cpu = case['cpu'] / case['frames']
        mean_wall = sum(case['wall']) / len(case['wall'])
        print(f'| {config.input_height}x{config.input_width} | {config.output_stride} | '
              f"{case['precision']} | {case['threads']} | {wall * 1e3:.1f} | {cpu:.4f} | "
              f"{cpu / mean_wall:.2f} | {statistics.median(case['preprocess']) * 1e3:.1f} |")
    return 0


def _cases(args, images, calibration) -> list[dict]:
    """Return a case per (precision, thread count, resolution), each estimator warmed up."""
    from posenet_ros.engine.estimator import PoseEstimator
    cases = []
    for precision in args.precisions:
        options = ({'precision': 'int8', 'calibration_images': calibration.images}
                   if precision == 'int8' else {})
        for threads in (int(t) for t in args.threads):
            estimator = PoseEstimator(args.model, backend='tflite' if options else args.backend,
                                      device='cpu', num_threads=threads, **options)
            cases += _warm_cases(args, images, estimator, precision, threads)
    return cases


def _warm_cases(args, images, estimator, precision: str, threads: int) -> list[dict]:
    """Return a case per resolution for this estimator, its model built and run on two photos."""
    cases = []
    for resolution in args.resolutions:
        height, width = parse_resolution(resolution)
        config = EstimateConfig(output_stride=args.stride, input_height=height,
                                input_width=width, decoding=args.mode).snapped()
        estimator.warmup(config)
        for image in images[:2]:
            estimator.estimate(image, config)
        cases.append({'threads': threads, 'precision': precision, 'config': config,
                      'estimator': estimator, 'wall': [], 'preprocess': [], 'cpu': 0.0,
                      'frames': 0})
    return cases


def _time_cases(cases: list[dict], images, rounds: int) -> None:
    """Time `rounds` passes over the photos, the cases taking turns: wall, preprocessing, CPU."""
    for _ in range(rounds):
        for case in cases:
            limit_opencv_threads(thread_count(case['threads']))
            cpu_start = time.process_time()
            for image in images:
                start = time.perf_counter()
                result = case['estimator'].estimate(image, case['config'])
                case['wall'].append(time.perf_counter() - start)
                case['preprocess'].append(result.timings_ms.get('preprocess', 0.0) / 1e3)
            case['cpu'] += time.process_time() - cpu_start
            case['frames'] += len(images)


if __name__ == '__main__':
    sys.exit(main())
