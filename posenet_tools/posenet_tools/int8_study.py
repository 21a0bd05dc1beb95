"""
posenet_int8_study: COCO AP and network time of int8 variants against float32 (docs/int8.md).

Each variant is a way of quantizing our graph (`engine.quantize.QuantizeOptions`) with a
calibration set: photos of `annotations.json` that are not val photos (never the val photos
themselves), or frames of a video. Every variant is scored with PoseNet's settings and with
`config/posenet.yaml`'s on the 44 val photos (`--settings`; none: only timed), and the
networks of float32 and of every variant of the run are timed together at the end
(interpreter invoke only, same input, turns taken, median), so ratios between variants hold
under a load that moves.

    posenet_int8_study --variants float32 heads --out docs/int8_study.json
    posenet_int8_study --variants heads-bc-float3 heads-bc-float4 --settings  # time only
    posenet_int8_study --per-layer --model mobilenet_float_050 --resolution 641
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path
import sys
import time

import numpy as np
from posenet_ros.engine.config import EstimateConfig
from posenet_ros.engine.image_io import load_image_rgb
from posenet_ros.engine.quantize import QuantizeOptions, read_calibration_images
from posenet_ros.engine.results_json import write_json_atomic
from posenet_tools.eval import (annotated_images, default_annotations, EVAL_MAX_DETECTIONS,
                                EVAL_NMS_RADIUS, EVAL_SCORE_THRESHOLD, evaluate_results,
                                load_annotations, run_estimator)
from posenet_tools.shared_data import coco_calibration_photos, shared_dir

# name -> (precision, QuantizeOptions, calibration source, calibration frames). Every option
# spelled out, so that a variant stays what docs/int8.md measured when the defaults move.


def _options(per_head=True, bias_correction=True, float_layers=0, int16=False):
    return QuantizeOptions(per_head_outputs=per_head, bias_correction=bias_correction,
                           float_layers=float_layers, int16_activations=int16)


VARIANTS = {
    'float32': ('float32', None, None, 0),
    'fused': ('int8', _options(per_head=False, bias_correction=False), 'coco', 48),
    'heads': ('int8', _options(bias_correction=False), 'coco', 53),
    'heads-float4': ('int8', _options(bias_correction=False, float_layers=4), 'coco', 53),
    'heads-bc': ('int8', _options(), 'coco', 53),
    'heads-bc-float2': ('int8', _options(float_layers=2), 'coco', 53),
    'heads-bc-float3': ('int8', _options(float_layers=3), 'coco', 53),
    'heads-bc-float4': ('int8', _options(float_layers=4), 'coco', 53),
    'heads-bc-cal16': ('int8', _options(), 'coco', 16),
    'heads-bc-video': ('int8', _options(), 'video', 48),
    'fused-bc': ('int8', _options(per_head=False), 'coco', 53),
    'int16': ('int8', _options(bias_correction=False, int16=True), 'coco', 53),
    'int16-bc': ('int8', _options(int16=True), 'coco', 53),
}
CHOSEN = 'heads-bc-float4'  # QuantizeOptions()
assert VARIANTS[CHOSEN][1] == QuantizeOptions()


def calibration_photos(limit: int) -> list[np.ndarray]:
    """Photos of annotations.json that are not in the val annotations, spread evenly."""
    paths = coco_calibration_photos()
    picks = sorted({int(i) for i in np.linspace(0, len(paths) - 1, min(limit, len(paths)))})
    return [load_image_rgb(paths[i]) for i in picks]


def calibration_set(source: str | None, frames: int) -> list[np.ndarray]:
    if source is None:
        return []
    if source == 'coco':
        return calibration_photos(frames)
    return read_calibration_images(shared_dir() / 'data' / 'video' / 'vtest.avi', frames)


def settings(stride: int, height: int, width: int) -> dict[str, EstimateConfig]:
    """Return PoseNet's multi-pose eval settings, and config/posenet.yaml's options on top."""
    posenet = EstimateConfig(output_stride=stride, input_height=height, input_width=width,
                             max_pose_detections=EVAL_MAX_DETECTIONS,
                             score_threshold=EVAL_SCORE_THRESHOLD, nms_radius=EVAL_NMS_RADIUS)
    yaml = dataclasses.replace(posenet, match_aspect_ratio=True, refine_keypoints=True,
                               pose_score_keypoints=5)
    return {'posenet': posenet, 'yaml': yaml}


def network_ms(estimators: dict, height: int, width: int, stride: int,
               repeats: int) -> dict[str, float]:
    """Median interpreter invoke time (ms) per estimator, turns taken on one uint8 input."""
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (1, height, width, 3), dtype=np.uint8)  # int8 models take uint8
    return ms_in_turns(
        {name: (estimator._network.inference._interpreter(height, width, stride),  # noqa: SLF001
                frame) for name, estimator in estimators.items()}, repeats)


def ms_in_turns(entries: dict, repeats: int, whole_stage: bool = False) -> dict[str, float]:
    """
    Median ms of each (`backends._Interpreter`, frame), turns taken, after one untimed turn.

    The invoke alone, or with `whole_stage` the network's stage as posenet_bench's inference
    stage times it: the frame fed, invoke, the heads read out.
    """
    for entry, frame in entries.values():
        entry.feed(frame)
        entry.interpreter.invoke()
    times = {name: [] for name in entries}
    for _ in range(repeats):
        for name, (entry, frame) in entries.items():
            start = time.perf_counter()
            if whole_stage:
                entry.feed(frame)
            entry.interpreter.invoke()
            if whole_stage:
                entry.output()
            times[name].append((time.perf_counter() - start) * 1e3)
    return {name: float(np.median(values)) for name, values in times.items()}


def input_types_ms(model: str, height: int, width: int, stride: int, repeats: int,
                   calibration: list[np.ndarray] | None = None) -> dict:
    """
    Time the chosen int8 model with the converter's float32 input and with uint8, float32 beside.

    Each is given what the backend gives it: float32 the exact resize, the int8 models the
    OpenCV resize (uint8; converted to float32 on the way into the converter's model), of one
    smoke photo. Calibrated on `calibration`, else on the chosen variant's frames. Why int8
    models take uint8 (`uint8_input`, docs/int8.md).
    """
    from posenet_ros.engine.backends import _Interpreter
    from posenet_ros.engine.estimator import PoseEstimator
    from posenet_ros.engine.mobilenet import MobileNetTensors, output_strided_layers
    from posenet_ros.engine.model_store import resolve_model
    from posenet_ros.engine.preprocess import (compute_padding, pad_and_resize,
                                               pad_and_resize_rounded)
    from posenet_ros.engine.quantize import calibration_inputs, converted_model
    from posenet_ros.engine.weights import load_weights
    _, options, source, frames = VARIANTS[CHOSEN]
    if calibration is None:
        calibration = calibration_set(source, frames)
    weights = load_weights(resolve_model(model))
    float_input = converted_model(
        MobileNetTensors(weights), output_strided_layers(weights.multiplier, stride), height,
        width, calibration_inputs(calibration, height, width), options)
    uint8_input = PoseEstimator(model, backend='tflite', precision='int8',
                                calibration_images=calibration,
                                quantize_options=options).int8_model(height, width, stride)
    float32 = PoseEstimator(model, backend='tflite')
    photo = load_image_rgb(sorted((shared_dir() / 'data' / 'smoke').glob('*.jpg'))[0])
    padding = compute_padding(photo.shape[0], photo.shape[1], height, width)
    rounded = pad_and_resize_rounded(photo, padding, height, width)
    return ms_in_turns({
        'float32': (float32._network.inference._interpreter(height, width, stride),  # noqa: SLF001
                    pad_and_resize(photo, padding, height, width)),
        'int8, float32 input': (_Interpreter(float_input), rounded),
        'int8, uint8 input': (_Interpreter(uint8_input), rounded)}, repeats, whole_stage=True)


def per_layer_ms(model: str, height: int, width: int, stride: int, repeats: int,
                 calibration: list[np.ndarray]) -> list[dict]:
    """
    Time our graph cut after each backbone layer, in float32 and in full-integer int8.

    Why the first layers run in float (docs/int8.md): each cut is normalization, the layers up
    to it, and a 1x1 convolution of stride 8 or more to one channel, so its output costs next
    to nothing; the float32 and int8 models of a cut take turns. Returns one row per cut: its
    last layer, both medians (ms), what the layer added to each, and both models' sizes.
    """
    import tensorflow as tf
    from posenet_ros.engine.backends import _Interpreter
    from posenet_ros.engine.mobilenet import MobileNetTensors, output_strided_layers, run_backbone
    from posenet_ros.engine.model_store import resolve_model
    from posenet_ros.engine.preprocess import normalize
    from posenet_ros.engine.quantize import calibration_inputs
    from posenet_ros.engine.weights import load_weights
    weights = load_weights(resolve_model(model))
    tensors = MobileNetTensors(weights)
    layers = output_strided_layers(weights.multiplier, stride)
    frames = calibration_inputs(calibration, height, width)

    def cut_model(count: int, int8: bool) -> bytes:
        def cut(resized):
            x = run_backbone(normalize(resized), tensors, layers[:count])
            reduce = tf.ones([1, 1, x.shape[-1], 1]) / x.shape[-1]
            return tf.nn.conv2d(x, reduce, 32 if count < 3 else 8, 'SAME')
        function = tf.function(cut, autograph=False)
        concrete = function.get_concrete_function(tf.TensorSpec([1, height, width, 3], tf.float32))
        converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], function)
        if int8:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: ([frame] for frame in frames)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        return converter.convert()

    rows, before = [], {'float32': 0.0, 'int8': 0.0}
    for count in range(len(layers) + 1):
        models = {precision: cut_model(count, precision == 'int8') for precision in before}
        sizes = {f'{precision}_bytes': len(model) for precision, model in models.items()}
        medians = ms_in_turns(
            {precision: (_Interpreter(model), frames[0]) for precision, model in models.items()},
            repeats)
        layer = layers[count - 1] if count else None
        rows.append({'layer': 'input' if layer is None else (
                         'Conv2d_0' if not layer.separable else f'block {layer.block_id}'),
                     **{f'{p}_ms': round(m, 2) for p, m in medians.items()},
                     **{f'{p}_added_ms': round(m - before[p], 2) for p, m in medians.items()},
                     **sizes})
        before = medians
    return rows


def main(argv=None) -> int:
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--variants', nargs='+', default=['float32', CHOSEN],
                        choices=list(VARIANTS), help=f'default: float32 and the chosen {CHOSEN}')
    parser.add_argument('--model', default='mobilenet_quant2_075')
    parser.add_argument('--stride', type=int, default=16)
    parser.add_argument('--resolution', default='353x481')
    parser.add_argument('--settings', nargs='*', default=['posenet', 'yaml'],
                        choices=['posenet', 'yaml'], help='AP with these (none: time only)')
    parser.add_argument('--repeats', type=int, default=30, help='timed invokes per variant')
    parser.add_argument('--out', type=Path, default=None, help='JSON rows (appended per run)')
    parser.add_argument('--per-layer', action='store_true',
                        help='instead: time the graph cut after each layer, float32 and int8')
    parser.add_argument('--input-types', action='store_true',
                        help="instead: time the chosen variant's network stage with the "
                             "converter's float32 input and with uint8, float32 beside")
    args = parser.parse_args(argv)
    from posenet_ros.engine.estimator import PoseEstimator
    from posenet_ros.engine.resolution import parse_resolution
    height, width = parse_resolution(args.resolution)
    if args.input_types:
        times = input_types_ms(args.model, height, width, args.stride, args.repeats)
        print(f'{args.model} {args.resolution} stride {args.stride}, network stage (median of '
              f'{args.repeats}, turns taken): ' + ', '.join(
                  f'{name} {ms:.2f} ms ({times["float32"] / ms:.2f}x)'
                  for name, ms in times.items()))
        return 0
    if args.per_layer:
        print('| cut after | float32 ms (added) | int8 ms (added) |\n|---|---|---|')
        for row in per_layer_ms(args.model, height, width, args.stride, args.repeats,
                                calibration_photos(16)):
            print(f"| {row['layer']} | {row['float32_ms']:.2f} ({row['float32_added_ms']:+.2f}) "
                  f"| {row['int8_ms']:.2f} ({row['int8_added_ms']:+.2f}) |", flush=True)
        return 0
    annotations = default_annotations()
    ground_truth = load_annotations(annotations)
    images = annotated_images(ground_truth, annotations.parent / 'images')
    configs = settings(args.stride, height, width)
    baseline = PoseEstimator(args.model, backend='tflite')
    built = {'float32': baseline}
    measured = []
    for variant in args.variants:
        precision, options, source, frames = VARIANTS[variant]
        calibration = calibration_set(source, frames)
        start = time.perf_counter()
        estimator = (baseline if precision == 'float32' else PoseEstimator(
            args.model, backend='tflite', precision=precision, calibration_images=calibration,
            quantize_options=options))
        row = {'variant': variant, 'model': args.model, 'stride': args.stride,
               'resolution': args.resolution, 'calibration': source,
               'calibration_frames': len(calibration),
               'options': dataclasses.asdict(options) if options else None}
        for name in args.settings:
            data = run_estimator(estimator, configs[name].snapped(), images, progress=False)
            row[f'ap_{name}'] = round(evaluate_results(data, ground_truth)[0].ap, 4)
        row['build_s_total'] = round(time.perf_counter() - start, 1)
        built[variant] = estimator
        measured.append(row)
    times = network_ms(built, height, width, args.stride, args.repeats)
    rows = json.loads(args.out.read_text()) if args.out and args.out.is_file() else []
    for row in measured:
        row['network_ms'] = round(times[row['variant']], 2)
        row['float32_network_ms'] = round(times['float32'], 2)
        print(json.dumps(row), flush=True)
        rows = [r for r in rows if not (r['variant'] == row['variant']
                                        and r['stride'] == args.stride
                                        and r['resolution'] == args.resolution
                                        and r['model'] == args.model)] + [row]
    if args.out:
        write_json_atomic(args.out, rows)
    return 0


if __name__ == '__main__':
    sys.exit(main())
