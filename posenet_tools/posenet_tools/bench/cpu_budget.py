"""
posenet_bench_cpu: CPU seconds per frame beside wall time, per thread budget (`num_threads`).

A robot's computer is shared: what a frame costs in CPU time (all of the process's threads)
matters as much as how long it takes. For each configuration and thread count an estimator with
that `num_threads` runs the same photos; rounds are interleaved across the cases so a change of
the machine's load hits all of them alike. Printed per case: median wall time per frame, CPU
seconds per frame (`time.process_time`: every thread of this process), the CPU/wall ratio (the
cores kept busy on average) and the preprocessing's share.

    python -m posenet_tools.bench.cpu_budget                     # 0.75, 257 and 353x481, 1 and 2
    python -m posenet_tools.bench.cpu_budget --threads 1,2,4 --rounds 10
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
import statistics
import sys
import time

from posenet_ros.engine.config import EstimateConfig
from posenet_ros.engine.image_io import load_image_rgb
from posenet_ros.engine.preprocess import limit_opencv_threads
from posenet_ros.engine.resolution import parse_resolution
from posenet_ros.engine.tf_runtime import available_cores
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
    parser.add_argument('--mode', default='multi', choices=('single', 'multi'))
    parser.add_argument('--rounds', type=int, default=5, help='passes over the photos (5)')
    parser.add_argument('--images', type=Path, nargs='+',
                        help='photos (default: the 6 of <shared>/data/smoke)')
    args = parser.parse_args(argv)
    from posenet_ros.engine.estimator import PoseEstimator
    images = [load_image_rgb(path) for path in
              (args.images or sorted((shared_dir() / 'data' / 'smoke').glob('*.jpg')))]
    if not images:
        print('error: no photos (set POSENET_SHARED or pass --images)', file=sys.stderr)
        return 2
    cases = []
    for threads in (int(t) for t in args.threads):
        estimator = PoseEstimator(args.model, backend=args.backend, device='cpu',
                                  num_threads=threads)
        for resolution in args.resolutions:
            height, width = parse_resolution(resolution)
            config = EstimateConfig(output_stride=args.stride, input_height=height,
                                    input_width=width, decoding=args.mode).snapped()
            estimator.warmup(config)
            for image in images[:2]:
                estimator.estimate(image, config)
            cases.append({'threads': threads, 'config': config, 'estimator': estimator,
                          'wall': [], 'preprocess': [], 'cpu': 0.0, 'frames': 0})
    for _ in range(args.rounds):
        for case in cases:
            limit_opencv_threads(case['threads'] or available_cores())
            cpu_start = time.process_time()
            for image in images:
                start = time.perf_counter()
                result = case['estimator'].estimate(image, case['config'])
                case['wall'].append(time.perf_counter() - start)
                case['preprocess'].append(result.timings_ms.get('preprocess', 0.0) / 1e3)
            case['cpu'] += time.process_time() - cpu_start
            case['frames'] += len(images)
    print(f'{args.model}, {args.backend}, {args.mode}, {len(images)} photos x {args.rounds} '
          f'rounds, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at the end')
    print('| input | stride | num_threads | wall ms/frame (median) | CPU s/frame | CPU/wall | '
          'preprocess ms (median) |')
    print('| --- | --- | --- | --- | --- | --- | --- |')
    for case in sorted(cases, key=lambda c: (c['config'].input_height * c['config'].input_width,
                                             c['threads'])):
        config = case['config']
        wall = statistics.median(case['wall'])
        cpu = case['cpu'] / case['frames']
        mean_wall = sum(case['wall']) / len(case['wall'])
        print(f'| {config.input_height}x{config.input_width} | {config.output_stride} | '
              f"{case['threads']} | {wall * 1e3:.1f} | {cpu:.4f} | {cpu / mean_wall:.2f} | "
              f"{statistics.median(case['preprocess']) * 1e3:.1f} |")
    return 0


if __name__ == '__main__':
    sys.exit(main())
