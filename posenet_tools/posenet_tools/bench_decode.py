"""
How long pose decoding takes, on real network outputs of a real photo (no inference timed).

    posenet_bench_decode                      # crowd photo, 353x481, s16
    posenet_bench_decode --photo me.jpg --stride 8 --repeat 2000

The network runs once (our estimator, or with `--source coral` Google's Coral TFLite model at
353x481 stride 16); then each decoding step runs `--repeat` times and its median and 90th
percentile are printed. Goal: multi-person decoding of 10 people on the 23x31 grid of a 353x481
input at stride 16 within 2 ms.
"""
from __future__ import annotations

import argparse
from pathlib import Path
import sys
import time

import numpy as np
from posenet_ros.engine.config import EstimateConfig
from posenet_ros.engine.decode_multi import decode_multiple_poses, find_root_candidates
from posenet_ros.engine.decode_single import decode_single_pose
from posenet_ros.engine.image_io import load_image_rgb
from posenet_ros.engine.postprocess import scale_and_flip_poses
from posenet_ros.engine.types import NetworkOutputs, Padding
from posenet_ros.tools.estimate import parse_resolution
from posenet_tools.shared_data import models_dir, shared_dir

CROWD_PHOTO = Path('data/coco_kpts/images/000000078915.jpg')  # 10 annotated people
# Google's Coral PoseNet 0.75 (uint8 TFLite, stride 16), by input size, under the models folder.
CORAL_MODELS = {(353, 481): Path('tflite/posenet_mobilenet_v1_075_353_481_quant.tflite'),
                (481, 641): Path('tflite/posenet_mobilenet_v1_075_481_641_quant.tflite')}


def coral_outputs(models_dir: Path, image_rgb: np.ndarray, size=(353, 481)) -> NetworkOutputs:
    """
    Return the Coral PoseNet's outputs (stride 16) for a photo stretched to `size` (h, w).

    Real network outputs without our network, e.g. to test or time decoders on their own. Its
    uint8 outputs make many heatmap scores tie.
    """
    from ai_edge_litert.interpreter import Interpreter
    from PIL import Image
    interpreter = Interpreter(model_path=str(models_dir / CORAL_MODELS[size]), num_threads=1)
    interpreter.allocate_tensors()
    resized = np.asarray(Image.fromarray(image_rgb).resize(size[::-1], Image.BILINEAR))
    interpreter.set_tensor(interpreter.get_input_details()[0]['index'], resized[None])
    interpreter.invoke()
    maps = {}
    for detail in interpreter.get_output_details():
        scale, zero_point = detail['quantization']
        maps[detail['name']] = ((interpreter.get_tensor(detail['index'])[0].astype(np.float32)
                                 - zero_point) * np.float32(scale))
    mid = maps['float_mid_offsets']
    return NetworkOutputs(
        heatmap_scores=(1 / (1 + np.exp(-maps['float_heatmaps']))).astype(np.float32),
        offsets=maps['float_short_offsets'], displacements_fwd=mid[..., :32].copy(),
        displacements_bwd=mid[..., 32:].copy())


def time_ms(function, repeat: int) -> tuple[float, float]:
    """(median, 90th percentile) in ms of `repeat` calls, after 10 unmeasured ones."""
    for _ in range(10):
        function()
    times = np.empty(repeat)
    for i in range(repeat):
        start = time.perf_counter()
        function()
        times[i] = time.perf_counter() - start
    return float(np.median(times) * 1e3), float(np.percentile(times, 90) * 1e3)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='posenet_bench_decode', description=__doc__.split('\n\n')[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--photo', type=Path, default=None,
                        help=f'default: <shared>/{CROWD_PHOTO}')
    parser.add_argument('--source', choices=('ours', 'coral'), default='ours',
                        help='network giving the outputs: our estimator, or the Coral TFLite one')
    parser.add_argument('--model', default='mobilenet_quant2_075', help='--source ours: weights')
    parser.add_argument('--resolution', type=parse_resolution, default=(353, 481),
                        metavar='N|HxW')
    parser.add_argument('--stride', type=int, default=16, choices=(8, 16, 32))
    parser.add_argument('--max-detections', type=int, default=10)
    parser.add_argument('--score-threshold', type=float, default=0.1)
    parser.add_argument('--nms-radius', type=float, default=30.0)
    parser.add_argument('--repeat', type=int, default=1000)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    shared = shared_dir()
    photo = args.photo or shared / CROWD_PHOTO
    image = load_image_rgb(photo)
    config = EstimateConfig(output_stride=args.stride, input_height=args.resolution[0],
                            input_width=args.resolution[1], decoding='multi',
                            max_pose_detections=args.max_detections,
                            score_threshold=args.score_threshold,
                            nms_radius=args.nms_radius).snapped()
    if args.source == 'coral':
        if (config.output_stride, config.input_height, config.input_width) != (16, 353, 481):
            print('--source coral is a fixed 353x481 stride-16 model', file=sys.stderr)
            return 2
        outputs = coral_outputs(models_dir(shared), image)
        padding, source = Padding(), 'Coral TFLite PoseNet 0.75 (uint8)'
    else:
        from posenet_ros.engine.estimator import PoseEstimator
        folder = models_dir(shared) / args.model
        estimator = PoseEstimator(str(folder) if folder.is_dir() else args.model)
        outputs, padding, _ = estimator.infer(image, config)
        source = f'{estimator.model_name} ({estimator.backend})'
    maps = (outputs.heatmap_scores, outputs.offsets, outputs.displacements_fwd,
            outputs.displacements_bwd)
    settings = (config.output_stride, config.max_pose_detections, config.score_threshold,
                config.nms_radius)
    poses = decode_multiple_poses(*maps, *settings)
    candidates = find_root_candidates(outputs.heatmap_scores, config.score_threshold).size
    height, width = image.shape[:2]
    steps = {
        'decode_multiple_poses': lambda: decode_multiple_poses(*maps, *settings),
        '  root candidate search': lambda: find_root_candidates(outputs.heatmap_scores,
                                                                config.score_threshold),
        'decode_single_pose': lambda: decode_single_pose(outputs.heatmap_scores, outputs.offsets,
                                                         config.output_stride),
        'scale_and_flip_poses': lambda: scale_and_flip_poses(
            poses, height, width, config.input_height, config.input_width, padding, True),
    }
    grid = outputs.heatmap_scores.shape[:2]
    print(f'{photo.name} through {source}: input {config.input_height}x{config.input_width}, '
          f'stride {config.output_stride}, grid {grid[0]}x{grid[1]}; max {args.max_detections}, '
          f'threshold {args.score_threshold}, nms {args.nms_radius}: {candidates} root '
          f'candidates, '
          f'{len(poses)} poses')
    print(f'| step | median ms | p90 ms |  ({args.repeat} runs)\n| --- | ---: | ---: |')
    for name, function in steps.items():
        median, p90 = time_ms(function, args.repeat)
        print(f'| {name} | {median:.3f} | {p90:.3f} |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
