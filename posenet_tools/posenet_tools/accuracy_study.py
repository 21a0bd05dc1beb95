"""
accuracy_study: COCO keypoint AP and cost of each option beyond the original PoseNet.

    posenet_accuracy_study [--quick] [--models M ...] [--out study.json]
                                               [--markdown study.md] [--annotations A.json]

Every figure comes from `PoseEstimator.estimate` with an `EstimateConfig` (the code the node
runs), scored by pycocotools through `posenet_eval`'s functions on the annotation file's photos,
with the multi-pose settings of posenet_eval (max 10 poses, score threshold 0.1, NMS radius 30).
The cost is the median wall time of one `estimate` call on a 640x480 photo (the camera the node
is tuned for) on the TFLite backend, timed after all AP runs; the configurations of one model
and stride take turns, so that load from other processes spreads evenly over them.

Sections:
  options       each option alone and together, per model, stride and input size
  equal_pixels  input size from the image's aspect ratio vs fixed sizes of as many pixels
  pose_score    the pose score's number of keypoints (and more detections)
  multi_scale   outputs of two input sizes averaged (a study-only variant: it does not pay)
"""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
import os
from pathlib import Path
import sys
import time

import numpy as np
from posenet_ros.engine.atomic_write import write_file_atomic
from posenet_ros.engine.config import EstimateConfig, input_size_for_image
from posenet_ros.engine.image_io import load_image_rgb
from posenet_ros.engine.poses import poses_from_outputs
from posenet_ros.engine.resolution import parse_resolution, resolution_label
from posenet_ros.engine.results_json import (
    config_record, result_record, results_document, write_json_atomic)
from posenet_ros.engine.types import NetworkOutputs
from posenet_tools.eval import (annotated_images, default_annotations, EVAL_MAX_DETECTIONS,
                                EVAL_NMS_RADIUS, EVAL_SCORE_THRESHOLD, evaluate_results,
                                load_annotations, original_ap)

# The pose score the study recommends: the mean of the 5 best keypoint scores (section pose_score;
# 4 to 6 are within noise of each other, 5 is the best on average over sizes and photo sets).
RECOMMENDED_POSE_SCORE_KEYPOINTS = 5

OPTION_SETS = {
    'original': {},
    'aspect': {'match_aspect_ratio': True},
    'flip': {'flip_test': True},
    'refine': {'refine_keypoints': True},
    'score': {'pose_score_keypoints': RECOMMENDED_POSE_SCORE_KEYPOINTS},
    'cheap': {'match_aspect_ratio': True, 'refine_keypoints': True,
              'pose_score_keypoints': RECOMMENDED_POSE_SCORE_KEYPOINTS},
    'all': {'match_aspect_ratio': True, 'flip_test': True, 'refine_keypoints': True,
            'pose_score_keypoints': RECOMMENDED_POSE_SCORE_KEYPOINTS},
}
OPTION_TITLES = {
    'original': 'original', 'aspect': '+aspect', 'flip': '+flip', 'refine': '+refine',
    'score': f'+score{RECOMMENDED_POSE_SCORE_KEYPOINTS}', 'cheap': 'aspect+refine+score',
    'all': 'all four'}

MODELS = ('mobilenet_float_050', 'mobilenet_quant2_075')
SIZES = ('257', '353x481', '481x641', '641x641')
STRIDES = (16, 8)


@dataclass
class Row:
    """One measured configuration."""

    section: str
    model: str
    stride: int
    resolution: str
    options: str
    ap: float
    ap50: float
    ar: float
    median_ms: float  # per photo during the AP run (indicative only)
    camera_ms: float | None = None  # per 640x480 frame, timed in turns (see `time_rows`)
    input_sizes: list = field(default_factory=list)
    original_ap: float | None = None  # the original's AP for this configuration, if stored


def base_config(stride: int, resolution: str, **overrides) -> EstimateConfig:
    height, width = parse_resolution(resolution)
    config = EstimateConfig(output_stride=stride, input_height=height, input_width=width,
                            decoding='multi', max_pose_detections=EVAL_MAX_DETECTIONS,
                            score_threshold=EVAL_SCORE_THRESHOLD, nms_radius=EVAL_NMS_RADIUS)
    return dataclasses.replace(config, **overrides).snapped()


class Study:
    """Holds the photos, the ground truth and one estimator per model; measures rows."""

    def __init__(self, annotations: Path, backend: str, progress: bool = True):
        self.ground_truth = load_annotations(annotations)
        pairs = annotated_images(self.ground_truth, annotations.parent / 'images')
        self.images = [(image_id, load_image_rgb(path)) for image_id, path in pairs]
        self.backend = backend
        self.progress = progress
        self._estimators = {}
        # With match_aspect_ratio COCO photos need many input sizes: keep every interpreter
        # (8 GiB as estimated is about 2-5 GiB of memory).
        from posenet_ros.engine import backends
        backends.TFLITE_CACHE_BYTES = max(backends.TFLITE_CACHE_BYTES, 8 << 30)
        # Many sizes to convert: with TensorFlow loaded here they are converted in this process
        # (about 0.5 s each) rather than each in a child process that imports it (about 4 s).
        from posenet_ros.engine.tf_runtime import import_tensorflow
        import_tensorflow()
        self._runners = []  # per measured row: frame -> poses, for `time_rows`
        self.frame = next((rgb for _, rgb in self.images if rgb.shape[:2] == (480, 640)),
                          self.images[0][1])

    def estimator(self, model: str):
        if model not in self._estimators:
            from posenet_ros.engine.estimator import PoseEstimator
            self._estimators[model] = PoseEstimator(model, backend=self.backend)
        return self._estimators[model]

    def _score(self, section, model, config, options, results, times, sizes) -> Row:
        data = results_document(config_record(config, model, self.backend), results, times)
        scores, _ = evaluate_results(data, self.ground_truth)
        original = None
        if options == 'original':
            original = original_ap(data['config'], None, self.ground_truth)
        row = Row(section, model, config.output_stride,
                  resolution_label(config.input_height, config.input_width), options,
                  scores.ap, scores.ap50, scores.ar, median_ms=float(np.median(times)),
                  input_sizes=sorted(sizes), original_ap=original)
        if self.progress:
            print(f'  {section:13s} {model} s{row.stride} r{row.resolution} {options:28s} '
                  f'AP {row.ap:.3f}  {row.median_ms:6.1f} ms', file=sys.stderr, flush=True)
        return row

    def measure(self, section: str, model: str, config: EstimateConfig, options: str) -> Row:
        """AP and median time of `estimate` with this config over every photo."""
        estimator = self.estimator(model)
        estimator.warmup(config)
        self._runners.append(lambda frame: estimator.estimate(frame, config))
        results, times, sizes = [], [], set()
        for image_id, rgb in self.images:
            start = time.perf_counter()
            result = estimator.estimate(rgb, config)
            times.append((time.perf_counter() - start) * 1e3)
            sizes.add(resolution_label(result.input_height, result.input_width))
            results.append(result_record(image_id, rgb.shape[1], rgb.shape[0], result.poses))
        return self._score(section, model, config, options, results, times, sizes)

    def measure_multi_scale(self, model: str, config: EstimateConfig, scales: tuple[float, ...],
                            weights: tuple[float, ...]) -> Row:
        """AP of averaging the outputs of several input sizes (pixel budget x scale^2)."""
        estimator = self.estimator(model)
        self._runners.append(
            lambda frame: estimate_multi_scale(estimator, frame, config, scales, weights))
        results, times, sizes = [], [], set()
        for image_id, rgb in self.images:
            start = time.perf_counter()
            poses, used = estimate_multi_scale(estimator, rgb, config, scales, weights)
            times.append((time.perf_counter() - start) * 1e3)
            sizes.update(used)
            results.append(result_record(image_id, rgb.shape[1], rgb.shape[0], poses))
        label = 'scales ' + '+'.join(f'{s:g}' for s in scales) + ' weights ' + '/'.join(
            f'{w:g}' for w in weights)
        return self._score('multi_scale', model, config, label, results, times, sizes)

    def time_rows(self, rows: list[Row], repeats: int) -> None:
        """
        Set `camera_ms`: median time per 640x480 frame.

        All rows of one model and stride take turns (so load from other processes spreads evenly
        over the configurations compared), after a warm-up that builds every interpreter they
        need (the study widens the TFLite interpreter cache, so none is rebuilt while timing).
        """
        assert len(rows) == len(self._runners)
        groups: dict[tuple, list[int]] = {}
        for index, row in enumerate(rows):
            groups.setdefault((row.model, row.stride), []).append(index)
        for members in groups.values():
            for index in members:
                self._runners[index](self.frame)
            samples = {index: [] for index in members}
            for _ in range(repeats):
                for index in members:
                    start = time.perf_counter()
                    self._runners[index](self.frame)
                    samples[index].append((time.perf_counter() - start) * 1e3)
            for index in members:
                rows[index].camera_ms = float(np.median(samples[index]))


# -- multi-scale (study only) ---------------------------------------------------------------

def _resample_onto(outputs: NetworkOutputs, padding, size, target_padding, target_size,
                   image_shape, stride: int) -> NetworkOutputs:
    """One input size's maps, bilinearly resampled onto another size's grid of the same image."""
    height, width = image_shape

    def scales(pad, input_size):
        return ((height + pad.top + pad.bottom) / input_size[0],
                (width + pad.left + pad.right) / input_size[1])

    scale_y, scale_x = scales(padding, size)
    target_scale_y, target_scale_x = scales(target_padding, target_size)
    grid_h, grid_w = outputs.heatmap_scores.shape[:2]
    rows = np.arange((target_size[0] - 1) // stride + 1) * stride
    cols = np.arange((target_size[1] - 1) // stride + 1) * stride
    # A target cell's source-image point, in cells of this size's grid.
    src_y = np.clip((rows * target_scale_y - target_padding.top + padding.top) / scale_y / stride,
                    0, grid_h - 1)
    src_x = np.clip(
        (cols * target_scale_x - target_padding.left + padding.left) / scale_x / stride,
        0, grid_w - 1)
    y0, x0 = np.floor(src_y).astype(int), np.floor(src_x).astype(int)
    y1, x1 = np.minimum(y0 + 1, grid_h - 1), np.minimum(x0 + 1, grid_w - 1)
    fy, fx = (src_y - y0)[:, None, None], (src_x - x0)[None, :, None]

    def interpolate(m):
        top = m[y0][:, x0] * (1 - fx) + m[y0][:, x1] * fx
        bottom = m[y1][:, x0] * (1 - fx) + m[y1][:, x1] * fx
        return (top * (1 - fy) + bottom * fy).astype(np.float32)

    def vectors(m):  # y block then x block, in this size's input pixels -> the target's
        out = interpolate(m)
        half = out.shape[-1] // 2
        out[..., :half] *= scale_y / target_scale_y
        out[..., half:] *= scale_x / target_scale_x
        return out

    return NetworkOutputs(interpolate(outputs.heatmap_scores), vectors(outputs.offsets),
                          vectors(outputs.displacements_fwd), vectors(outputs.displacements_bwd))


def estimate_multi_scale(estimator, rgb, config: EstimateConfig, scales, weights):
    """Poses from the weighted mean of the outputs at several pixel budgets (first = the grid)."""
    budget = config.input_height * config.input_width
    runs = []
    for scale in scales:
        size = input_size_for_image(rgb.shape[0], rgb.shape[1], config.output_stride,
                                    pixel_budget=int(budget * scale * scale))
        scaled = dataclasses.replace(config, input_height=size[0], input_width=size[1],
                                     match_aspect_ratio=False)
        outputs, padding, used = estimator.infer(rgb, scaled)
        runs.append((outputs, padding, used))
    target_outputs, target_padding, target_size = runs[0]
    total = [np.zeros_like(a) for a in dataclasses.astuple(target_outputs)]
    for (outputs, padding, size), weight in zip(runs, weights):
        if size != target_size:
            outputs = _resample_onto(outputs, padding, size, target_padding, target_size,
                                     rgb.shape[:2], config.output_stride)
        for acc, part in zip(total, dataclasses.astuple(outputs)):
            acc += np.float32(weight) * part
    merged = NetworkOutputs(*total)
    used = dataclasses.replace(config, input_height=target_size[0], input_width=target_size[1],
                               match_aspect_ratio=False)
    poses = poses_from_outputs(merged, used, target_padding, rgb.shape[0], rgb.shape[1])
    return poses, [resolution_label(*size) for _, _, size in runs]


# -- the sections ---------------------------------------------------------------------------

def options_section(study: Study, models, sizes, strides, option_names) -> list[Row]:
    rows = []
    for model in models:
        for stride in strides:
            for resolution in sizes:
                for name in option_names:
                    config = base_config(stride, resolution, **OPTION_SETS[name])
                    rows.append(study.measure('options', model, config, name))
    return rows


def equal_pixels_section(study: Study, model: str) -> list[Row]:
    """Compare fixed sizes with the image's own aspect ratio at (nearly) the same pixel count."""
    rows = []
    for stride, fixed, budget_of in ((16, ('353x481', '481x353', '417x417'), '353x481'),
                                     (16, ('481x641', '641x481', '545x545'), '481x641'),
                                     (8, ('353x481', '481x353', '417x417'), '353x481')):
        for resolution in fixed:
            rows.append(study.measure('equal_pixels', model, base_config(stride, resolution),
                                      'fixed'))
        rows.append(study.measure('equal_pixels', model,
                                  base_config(stride, budget_of, match_aspect_ratio=True),
                                  'aspect (same budget)'))
    return rows


def pose_score_section(study: Study, model: str) -> list[Row]:
    rows = []
    for stride, resolution, flip in ((16, '353x481', False), (16, '353x481', True),
                                     (16, '481x641', True), (8, '353x481', True)):
        common = {'match_aspect_ratio': True, 'refine_keypoints': True, 'flip_test': flip}
        for keypoints in (17, 10, 8, 6, 5, 4, 3):
            config = base_config(stride, resolution, pose_score_keypoints=keypoints, **common)
            rows.append(study.measure('pose_score', model, config,
                                      f"{'flip+' if flip else ''}k={keypoints}"))
        config = base_config(stride, resolution, max_pose_detections=20,
                             pose_score_keypoints=RECOMMENDED_POSE_SCORE_KEYPOINTS, **common)
        label = f"{'flip+' if flip else ''}k={RECOMMENDED_POSE_SCORE_KEYPOINTS} max 20"
        rows.append(study.measure('pose_score', model, config, label))
    return rows


def multi_scale_section(study: Study, model: str) -> list[Row]:
    rows = []
    extras = {'refine_keypoints': True, 'pose_score_keypoints': RECOMMENDED_POSE_SCORE_KEYPOINTS}
    for resolution, scales in (('353x481', (1.0, 1.5)), ('481x641', (1.0, 0.75))):
        config = base_config(16, resolution, match_aspect_ratio=True, **extras)
        rows.append(study.measure('multi_scale', model, config, 'one scale'))
        for weights in ((0.5, 0.5), (0.7, 0.3)):
            rows.append(study.measure_multi_scale(model, config, scales, weights))
    big = base_config(16, '529x721', match_aspect_ratio=True, **extras)  # 1.5^2 x 353x481
    rows.append(study.measure('multi_scale', model, big, 'one scale (x1.5 budget)'))
    return rows


# -- output ---------------------------------------------------------------------------------

def _ms(row: Row) -> str:
    return f'{row.camera_ms:.0f}' if row.camera_ms is not None else f'~{row.median_ms:.0f}'


def markdown(rows: list[Row]) -> str:
    """Return the tables of docs/accuracy.md."""
    out = []
    options = [r for r in rows if r.section == 'options']
    if options:
        names = [n for n in OPTION_SETS if any(r.options == n for r in options)]
        for model in dict.fromkeys(r.model for r in options):
            out.append(f'\n#### {model}: COCO AP (ms per 640x480 frame)\n')
            out.append('| stride | input | ' + ' | '.join(OPTION_TITLES[n] for n in names) + ' |')
            out.append('|---|---|' + '---|' * len(names))
            keys = dict.fromkeys((r.stride, r.resolution) for r in options if r.model == model)
            for stride, resolution in keys:
                cells = []
                for name in names:
                    row = next((r for r in options if (r.model, r.stride, r.resolution, r.options)
                                == (model, stride, resolution, name)), None)
                    cells.append('' if row is None else f'{row.ap:.3f} ({_ms(row)})')
                out.append(f'| {stride} | {resolution} | ' + ' | '.join(cells) + ' |')
            originals = [(r.stride, r.resolution, r.original_ap) for r in options
                         if r.model == model and r.options == 'original'
                         and r.original_ap is not None]
            if originals:
                out.append('\nThe original (tfjs 2.2.2 reference outputs) scores: ' + ', '.join(
                    f's{s} {res}: {ap:.3f}' for s, res, ap in originals) + '.')
    for section, title in (('equal_pixels', "Input size: fixed vs the image's aspect ratio"),
                           ('pose_score', 'Pose score: mean of the k best keypoint scores'),
                           ('multi_scale', 'Multi-scale: outputs of two input sizes averaged')):
        chosen = [r for r in rows if r.section == section]
        if not chosen:
            continue
        out.append(f'\n#### {title}\n')
        out.append('| model | stride | input | variant | input sizes used | AP | AP50 | AR '
                   '| ms/frame |')
        out.append('|---|---|---|---|---|---|---|---|---|')
        for r in chosen:
            used = ', '.join(r.input_sizes[:4]) + (', ...' if len(r.input_sizes) > 4 else '')
            out.append(f'| {r.model} | {r.stride} | {r.resolution} | {r.options} | {used} | '
                       f'{r.ap:.3f} | {r.ap50:.3f} | {r.ar:.3f} | {_ms(r)} |')
    return '\n'.join(out) + '\n'


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='posenet_accuracy_study',
        description='COCO AP and cost of the options beyond the original.')
    parser.add_argument('--annotations', type=Path, default=None,
                        help=f'COCO person-keypoints file (default {default_annotations()})')
    parser.add_argument('--models', nargs='+', default=list(MODELS))
    parser.add_argument('--sizes', nargs='+', default=list(SIZES))
    parser.add_argument('--strides', nargs='+', type=int, default=list(STRIDES))
    parser.add_argument('--options', nargs='+', default=list(OPTION_SETS),
                        choices=list(OPTION_SETS))
    parser.add_argument('--sections', nargs='+',
                        default=['options', 'equal_pixels', 'pose_score', 'multi_scale'],
                        choices=['options', 'equal_pixels', 'pose_score', 'multi_scale'])
    parser.add_argument('--backend', default='tflite')
    parser.add_argument('--quick', action='store_true',
                        help='only 0.75 at 353x481 stride 16, options section (a smoke run)')
    parser.add_argument('--out', type=Path, default=None, help='write every row as JSON')
    parser.add_argument('--markdown', type=Path, default=None, help='write the tables here')
    parser.add_argument('--repeats', type=int, default=15,
                        help='timed calls per configuration on the 640x480 frame (0: no timing)')
    parser.add_argument('--quiet', action='store_true')
    return parser


def main(argv=None) -> int:
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    args = _build_parser().parse_args(argv)
    if args.quick:
        args.models, args.sizes, args.strides = ['mobilenet_quant2_075'], ['353x481'], [16]
        args.sections = ['options']
    try:
        for size in args.sizes:
            parse_resolution(size)
        study = Study(args.annotations or default_annotations(), args.backend,
                      progress=not args.quiet)
        focus = 'mobilenet_quant2_075' if 'mobilenet_quant2_075' in args.models else args.models[0]
        rows = []
        if 'options' in args.sections:
            rows += options_section(study, args.models, args.sizes, args.strides, args.options)
        if 'equal_pixels' in args.sections:
            rows += equal_pixels_section(study, focus)
        if 'pose_score' in args.sections:
            rows += pose_score_section(study, focus)
        if 'multi_scale' in args.sections:
            rows += multi_scale_section(study, focus)
        if args.repeats > 0:
            study.time_rows(rows, args.repeats)
    except ValueError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    text = markdown(rows)
    print(f'COCO keypoint AP on {len(study.images)} photos; backend {args.backend}')
    print(text)
    if args.out:
        write_json_atomic(args.out, {'photos': len(study.images), 'backend': args.backend,
                                     'cpus': len(os.sched_getaffinity(0)),
                                     'load_average_at_end': list(os.getloadavg()),
                                     'rows': [dataclasses.asdict(r) for r in rows]})
    if args.markdown:
        write_file_atomic(args.markdown, text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
