"""
posenet_eval: COCO keypoint AP of PoseNet results, ours beside the original's.

Two ways in:

    posenet_eval --results out.json [more.json ...] [--annotations A.json]
    posenet_eval --run --model mobilenet_quant2_075 --stride 16 --resolution 353x481 --mode multi

A results file uses the schema of the original's reference outputs (`<shared>/reference/README.md`;
`posenet_estimate` writes the same): poses in source-image pixels per image id. Poses become
COCO detections (17 x [x, y, score], score = pose score, category 1), restricted to the images
of the annotation file, and pycocotools' COCOeval (iouType 'keypoints', OKS) scores them.
With --run our estimator goes over the annotation file's photos first. The original's AP for the
same configuration is shown beside ours when a stored reference output matches it
(`<shared>/reference/coco`), or, with --run-original, by running the original through Node.js.
"""
from __future__ import annotations

import argparse
import contextlib
from dataclasses import asdict, dataclass
import io
import json
import os
from pathlib import Path
import sys
import time

import numpy as np
from posenet_ros.engine.config import BEYOND_ORIGINAL_FIELDS, EstimateConfig
from posenet_ros.engine.image_io import InputReadError, load_image_rgb
from posenet_ros.engine.resolution import parse_resolution, resolution_label
from posenet_ros.engine.results_json import (
    config_record, read_results, result_record, results_document, write_json_atomic)
from posenet_tools.shared_data import models_dir, shared_dir

# Multi-pose settings for accuracy: those of the library's camera demo, which the original's
# quoted COCO APs use (the library defaults, 5 / 0.5 / 20, cut recall and so AP).
EVAL_MAX_DETECTIONS = 10
EVAL_SCORE_THRESHOLD = 0.1
EVAL_NMS_RADIUS = 30.0


def default_annotations() -> Path:
    return shared_dir() / 'data' / 'coco_kpts' / 'annotations_val2017.json'


def default_reference_dir() -> Path:
    return shared_dir() / 'reference' / 'coco'


@dataclass
class KeypointScores:
    """COCO keypoint metrics (pycocotools' summary, maxDets 20) for one set of detections."""

    ap: float
    ap50: float
    ap75: float
    ap_medium: float
    ap_large: float
    ar: float
    images: int
    detections: int

    COLUMNS = ('AP', 'AP50', 'AP75', 'APm', 'APl', 'AR')

    def values(self) -> tuple[float, ...]:
        return (self.ap, self.ap50, self.ap75, self.ap_medium, self.ap_large, self.ar)

    def as_dict(self) -> dict:
        return asdict(self)


# -- results files --------------------------------------------------------------------------

def to_coco_detections(results: list[dict], image_ids=None) -> list[dict]:
    """COCO keypoint detections from reference-schema records (only `image_ids`, if given)."""
    detections = []
    for record in results:
        if image_ids is not None and record['id'] not in image_ids:
            continue
        for pose in record['poses']:
            keypoints = []
            for keypoint in pose['keypoints']:
                keypoints += [float(keypoint['x']), float(keypoint['y']), float(keypoint['score'])]
            detections.append({'image_id': record['id'], 'category_id': 1,
                               'keypoints': keypoints, 'score': float(pose['score'])})
    return detections


# -- scoring --------------------------------------------------------------------------------

def load_annotations(path: Path | str):
    """Load pycocotools COCO ground truth, without its chatter on stdout."""
    from pycocotools.coco import COCO
    path = Path(path)
    if not path.is_file():
        raise ValueError(f'annotation file not found: {path} '
                         '(set POSENET_SHARED or pass --annotations)')
    with contextlib.redirect_stdout(io.StringIO()):
        ground_truth = COCO(str(path))
    if not ground_truth.getCatIds(catNms=['person']):
        raise ValueError(f'{path} has no "person" category: not a COCO person-keypoints file')
    return ground_truth


def evaluate_detections(detections: list[dict], ground_truth) -> KeypointScores:
    """Run COCOeval: keypoint AP/AR over every image of the ground truth."""
    from pycocotools.cocoeval import COCOeval
    image_ids = sorted(ground_truth.getImgIds())
    wanted = set(image_ids)
    detections = [d for d in detections if d['image_id'] in wanted]
    if not detections:
        return KeypointScores(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, len(image_ids), 0)
    with contextlib.redirect_stdout(io.StringIO()):
        found = ground_truth.loadRes(detections)
        evaluator = COCOeval(ground_truth, found, 'keypoints')
        evaluator.params.imgIds = image_ids
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    # stats: AP, AP50, AP75, APm, APl, AR, AR50, AR75, ARm, ARl (-1 where nothing to score).
    stats = [max(0.0, float(v)) for v in evaluator.stats]
    return KeypointScores(stats[0], stats[1], stats[2], stats[3], stats[4], stats[5],
                          len(image_ids), len(detections))


def evaluate_results(data: dict, ground_truth) -> tuple[KeypointScores, list]:
    """Score a loaded results file; also returns the annotated image ids it has no entry for."""
    image_ids = set(ground_truth.getImgIds())
    covered = {record['id'] for record in data['results']}
    missing = sorted(image_ids - covered)
    detections = to_coco_detections(data['results'], image_ids)
    return evaluate_detections(detections, ground_truth), missing


# -- the original's figures -----------------------------------------------------------------

def _config_key(config: dict) -> tuple:
    """
    Return what makes two runs comparable.

    Model, stride, input size, decoding and its settings.
    """
    res = config.get('res')
    if isinstance(res, dict):
        res = (int(res['height']), int(res['width']))
    else:
        res = parse_resolution(res)
    key = (config.get('model'), int(config.get('stride')), res, config.get('mode'),
           bool(config.get('flip', False)))
    if config.get('mode') == 'multi':
        key += (int(config.get('max')), round(float(config.get('score')), 6),
                round(float(config.get('nms')), 6))
    return key


def find_reference(config: dict, reference_dir: Path | str | None = None) -> Path | None:
    """Return the stored output of the original with this configuration, if there is one."""
    reference_dir = Path(reference_dir) if reference_dir else default_reference_dir()
    if not reference_dir.is_dir():
        return None
    wanted = _config_key(config)
    for path in sorted(reference_dir.glob('*.json')):
        with contextlib.suppress(ValueError, KeyError, TypeError, json.JSONDecodeError):
            if _config_key(json.loads(path.read_text())['config']) == wanted:
                return path
    return None


def original_ap(config: dict | None, reference_dir, ground_truth) -> float | None:
    """AP of the original's stored output for the same configuration, if one exists."""
    if not config:
        return None
    try:
        path = find_reference(config, reference_dir)
    except (KeyError, TypeError, ValueError):
        return None
    if path is None:
        return None
    return evaluate_results(read_results(path), ground_truth)[0].ap


# -- running our estimator ------------------------------------------------------------------

def annotated_images(ground_truth, images_dir: Path) -> list[tuple[int, Path]]:
    """(image id, photo path) for every image of the annotation file; all photos must exist."""
    pairs = []
    missing = []
    for image in sorted(ground_truth.loadImgs(ground_truth.getImgIds()), key=lambda i: i['id']):
        path = images_dir / image['file_name']
        (pairs if path.is_file() else missing).append((image['id'], path))
    if missing:
        raise ValueError(f'{len(missing)} annotated photos are missing under {images_dir}, '
                         f'e.g. {missing[0][1].name}; pass --images')
    return pairs


def beyond_original(config: EstimateConfig) -> dict:
    """Return the options of `config` that differ from the original PoseNet's behaviour."""
    plain = EstimateConfig()
    return {name: getattr(config, name) for name in BEYOND_ORIGINAL_FIELDS
            if getattr(config, name) != getattr(plain, name)}


def run_estimator(estimator, config: EstimateConfig, images: list[tuple[int, Path]],
                  progress: bool = True) -> dict:
    """
    Estimate poses on each photo; a results dict in the reference schema (times per call).

    Options beyond the original that `config` turns on are recorded under config.options.
    """
    from tqdm import tqdm
    results = []
    times = []
    decoded = [(image_id, load_image_rgb(path)) for image_id, path in images]
    estimator.warmup(config)
    for image_id, rgb in tqdm(decoded, desc='estimating', unit='img', disable=not progress,
                              file=sys.stderr):
        start = time.perf_counter()
        result = estimator.estimate(rgb, config)
        times.append((time.perf_counter() - start) * 1e3)
        results.append(result_record(image_id, rgb.shape[1], rgb.shape[0], result.poses))
    run_config = config_record(config, estimator.model_name, estimator.backend)
    if beyond_original(config):
        run_config['options'] = beyond_original(config)
    return results_document(run_config, results, times)


# -- command line ---------------------------------------------------------------------------

def _format_table(rows: list[tuple[str, KeypointScores, float | None]]) -> str:
    """
    Return a plain-text table: one row per evaluated file or run.

    The original's AP is in the last column.
    """
    width = max([len('results')] + [len(name) for name, _, _ in rows])
    header = f"{'results':<{width}} " + ' '.join(f'{c:>6}' for c in KeypointScores.COLUMNS)
    header += f" {'dets':>5} {'orig AP':>8}"
    lines = [header, '-' * len(header)]
    for name, scores, original in rows:
        cells = ' '.join(f'{v:6.3f}' for v in scores.values())
        ref = f'{original:8.3f}' if original is not None else f"{'-':>8}"
        lines.append(f'{name:<{width}} {cells} {scores.detections:5d} {ref}')
    return '\n'.join(lines)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='posenet_eval', description='COCO keypoint AP of PoseNet results (pycocotools, OKS).')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--results', type=Path, nargs='+', metavar='JSON',
                        help='results files in the reference schema (posenet_estimate --json)')
    source.add_argument('--run', action='store_true',
                        help='run our estimator over the annotated photos, then evaluate')
    parser.add_argument('--annotations', type=Path, default=None,
                        help=f'COCO person-keypoints file (default {default_annotations()})')
    parser.add_argument('--images', type=Path, default=None,
                        help="photos folder (default: 'images' beside the annotation file)")
    parser.add_argument('--reference-dir', type=Path, default=None,
                        help=f"the original's stored outputs (default {default_reference_dir()})")
    run = parser.add_argument_group('--run options')
    run.add_argument('--model', default='mobilenet_quant2_075',
                     help='model name (looked up in $POSENET_MODELS) or weight folder')
    run.add_argument('--multiplier', type=float, default=None)
    run.add_argument('--backend', default=None,
                     help='inference path of PoseEstimator (default: its own)')
    run.add_argument('--device', default='auto')
    run.add_argument('--stride', type=int, default=16, choices=(8, 16, 32))
    run.add_argument('--resolution', default='353x481', help='N or HxW, e.g. 257 or 353x481')
    run.add_argument('--mode', default='multi', choices=('single', 'multi'))
    run.add_argument('--max', type=int, default=EVAL_MAX_DETECTIONS, dest='max_detections')
    run.add_argument('--score', type=float, default=EVAL_SCORE_THRESHOLD, dest='score_threshold')
    run.add_argument('--nms', type=float, default=EVAL_NMS_RADIUS, dest='nms_radius')
    run.add_argument('--flip', action='store_true')
    beyond = parser.add_argument_group(
        '--run options beyond the original PoseNet (EstimateConfig; the original AP shown '
        'beside is that of the plain configuration)')
    beyond.add_argument('--match-aspect-ratio', action='store_true',
                        help="input shaped like each image, within the resolution's pixels")
    beyond.add_argument('--flip-test', action='store_true',
                        help='average the outputs of the image and its mirror image')
    beyond.add_argument('--refine-keypoints', action='store_true',
                        help='move keypoints to the vote of the cells around them')
    beyond.add_argument('--pose-score-keypoints', type=int, default=None, metavar='N',
                        help='pose score from the N best keypoint scores (17: the original)')
    run.add_argument('--save-results', type=Path, default=None,
                     help='also write our poses (reference schema) here')
    run.add_argument('--run-original', action='store_true',
                     help='time and score the original through Node.js (tools/tfjs_reference) '
                          'instead of looking for a stored reference output')
    parser.add_argument('--json-out', type=Path, default=None, help='write the scores as JSON')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')
    return parser


def _run_config(args) -> EstimateConfig:
    height, width = parse_resolution(args.resolution)
    config = EstimateConfig(output_stride=args.stride, input_height=height, input_width=width,
                            decoding=args.mode, max_pose_detections=args.max_detections,
                            score_threshold=args.score_threshold, nms_radius=args.nms_radius,
                            flip_horizontal=args.flip,
                            match_aspect_ratio=args.match_aspect_ratio, flip_test=args.flip_test,
                            refine_keypoints=args.refine_keypoints,
                            **({} if args.pose_score_keypoints is None
                               else {'pose_score_keypoints': args.pose_score_keypoints}))
    config.check()
    return config


def _original_run(args, config: EstimateConfig, images) -> dict:
    from posenet_tools.tfjs_reference import TfjsReference
    model_dir = Path(args.model) if Path(args.model).is_dir() else models_dir() / args.model
    run = TfjsReference().run(
        model_dir, [path for _, path in images], stride=config.output_stride,
        resolution=resolution_label(config.input_height, config.input_width), mode=config.decoding,
        max_detections=config.max_pose_detections, score_threshold=config.score_threshold,
        nms_radius=config.nms_radius, flip=config.flip_horizontal, repeat=1,
        multiplier=args.multiplier)
    return run.as_reference_json()


def main(argv=None) -> int:
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # TensorFlow's start-up INFO lines
    args = _build_parser().parse_args(argv)
    annotations = args.annotations or default_annotations()
    report = []
    try:
        ground_truth = load_annotations(annotations)
        rows = []
        if args.results:
            for path in args.results:
                data = read_results(path)
                scores, missing = evaluate_results(data, ground_truth)
                if missing:
                    print(f'warning: {path} has no entry for {len(missing)} of the '
                          f'{scores.images} annotated images (they count as misses)',
                          file=sys.stderr)
                original = original_ap(data.get('config'), args.reference_dir, ground_truth)
                rows.append((path.name, scores, original))
                report.append({'results': str(path), 'config': data.get('config'),
                               'scores': scores.as_dict(), 'original_ap': original})
        else:
            config = _run_config(args)
            images = annotated_images(ground_truth, args.images or annotations.parent / 'images')
            from posenet_ros.engine.estimator import PoseEstimator
            if config.match_aspect_ratio:  # a size per aspect ratio: convert them in process
                from posenet_ros.engine.tf_runtime import import_tensorflow
                import_tensorflow()
            kwargs = {'multiplier': args.multiplier, 'device': args.device}
            if args.backend:
                kwargs['backend'] = args.backend
            estimator = PoseEstimator(args.model, **kwargs)
            config.check(estimator.multiplier)
            config = config.snapped()
            data = run_estimator(estimator, config, images, progress=not args.quiet)
            if args.save_results:
                write_json_atomic(args.save_results, data)
            scores, _ = evaluate_results(data, ground_truth)
            if args.run_original:
                original_data = _original_run(args, config, images)
                original = evaluate_results(original_data, ground_truth)[0].ap
            else:
                original = original_ap(data['config'], args.reference_dir, ground_truth)
            resolution = resolution_label(config.input_height, config.input_width)
            label = (f'{estimator.model_name} s{config.output_stride} r{resolution} '
                     f"{config.decoding}{' flip' if config.flip_horizontal else ''} "
                     f'[{estimator.backend}]'
                     + ''.join(f' {name}={value}' for name, value in
                               beyond_original(config).items()))
            rows.append((label, scores, original))
            median = float(np.median(data['times_ms']))
            report.append({'results': label, 'config': data['config'], 'scores': scores.as_dict(),
                           'original_ap': original, 'median_ms': median})
    except (ValueError, InputReadError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    print(f'COCO keypoint AP on {annotations.name} ({rows[0][1].images} images)')
    print(_format_table(rows))
    if args.run:
        print(f"median estimate time {report[0]['median_ms']:.1f} ms/image")
    if args.json_out:
        write_json_atomic(args.json_out, report)
    return 0


if __name__ == '__main__':
    sys.exit(main())
