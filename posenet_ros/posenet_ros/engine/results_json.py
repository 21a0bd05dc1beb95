"""
The pose-results JSON file: what `posenet_estimate` writes and the original's runner wrote.

One schema for our outputs and the reference outputs of tfjs-models posenet 2.2.2, so both can
be compared, evaluated and plotted by the same tools:

    {"config": {"model", "stride", "res", "mode", "max", "score", "nms", "flip", "backend",
                "implementation", ["options": {EstimateConfig fields beyond the original}]},
     "results": [{"id", "width", "height",
                  "poses": [{"score", "keypoints": [{"part", "score", "x", "y"} x 17]}]}],
     "times_ms": [one wall time per estimate call]}

`res` is an int for a square input, else {"height", "width"}; `part` uses the tfjs camelCase
names; `x`, `y` are source-image pixels; `nms` is in model-input pixels. `id` is the photo's file
stem (an int when all digits, as the COCO ids of the reference files), a frame index for the
frames of a video given alone, and "<video stem>/<frame index>" for video frames of a run with
several inputs (`posenet-estimate`), so ids are unique within a file.

With `posenet-estimate --track` every pose also has `"track_id"`: an int, the same for one
person over a video's frames (from 1, never reused within a video run; 0 while a new person is
not confirmed yet), as `engine.tracking.PoseTracker` gives them; `config` then has
`"tracking": {"smooth": bool, ...TrackerConfig fields}` and, with `--smooth`, `x`, `y` are the
One-Euro smoothed positions.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from .atomic_write import write_file_atomic
from .config import BEYOND_ORIGINAL_FIELDS, EstimateConfig
from .parts import NUM_KEYPOINTS, PART_NAMES_TFJS
from .types import Pose

CONFIG_KEYS = ('model', 'stride', 'res', 'mode', 'max', 'score', 'nms', 'flip', 'backend',
               'implementation')


class ResultsFormatError(ValueError):
    """A results file that does not follow the schema (the message says where and how)."""


def implementation_name() -> str:
    """`posenet_ros <version>`, for the `implementation` field."""
    try:
        from importlib.metadata import version
        return f'posenet_ros {version("posenet_ros")}'
    except Exception:  # not installed as a distribution (running from the source tree)
        return 'posenet_ros (source tree)'


def resolution_record(input_height: int, input_width: int):
    return int(input_height) if input_height == input_width else {
        'height': int(input_height), 'width': int(input_width)}


def config_record(config: EstimateConfig, model: str, backend: str,
                  implementation: str | None = None) -> dict:
    """
    Return the `config` object for an EstimateConfig run with `model` on `backend`.

    Options beyond the original (`config.BEYOND_ORIGINAL_FIELDS`) that are not at their
    default go under `options` (absent when there are none, as in the original's files).
    """
    defaults = EstimateConfig()
    options = {name: getattr(config, name) for name in BEYOND_ORIGINAL_FIELDS
               if getattr(config, name) != getattr(defaults, name)}
    return {
        'model': model,
        'stride': int(config.output_stride),
        'res': resolution_record(config.input_height, config.input_width),
        'mode': config.decoding,
        'max': int(config.max_pose_detections),
        'score': float(config.score_threshold),
        'nms': float(config.nms_radius),
        'flip': bool(config.flip_horizontal),
        'backend': backend,
        'implementation': implementation or implementation_name(),
        **({'options': options} if options else {}),
    }


def estimate_config_from_record(config: dict) -> EstimateConfig:
    """Return the EstimateConfig a `config` object describes (e.g. to re-run a reference)."""
    res = config['res']
    height, width = (res, res) if isinstance(res, int) else (res['height'], res['width'])
    return EstimateConfig(
        output_stride=int(config['stride']), input_height=int(height), input_width=int(width),
        decoding=config['mode'], max_pose_detections=int(config.get('max', 5)),
        score_threshold=float(config.get('score', 0.5)), nms_radius=float(config.get('nms', 20)),
        flip_horizontal=bool(config.get('flip', False)),
        **{name: value for name, value in config.get('options', {}).items()
           if name in BEYOND_ORIGINAL_FIELDS})


def pose_record(pose: Pose, track_id: int | None = None) -> dict:
    coords = np.asarray(pose.keypoint_coords, dtype=np.float64)
    scores = np.asarray(pose.keypoint_scores, dtype=np.float64)
    record = {
        'score': float(pose.score),
        'keypoints': [
            {'part': PART_NAMES_TFJS[k], 'score': float(scores[k]), 'x': float(coords[k, 0]),
             'y': float(coords[k, 1])} for k in range(NUM_KEYPOINTS)],
    }
    if track_id is not None:
        record['track_id'] = int(track_id)
    return record


def result_record(image_id, width: int, height: int, poses: list[Pose],
                  track_ids=None) -> dict:
    """One image's record; `track_ids` (one per pose) adds "track_id" to each pose."""
    ids = [None] * len(poses) if track_ids is None else [int(i) for i in track_ids]
    return {'id': image_id, 'width': int(width), 'height': int(height),
            'poses': [pose_record(pose, track_id) for pose, track_id in zip(poses, ids)]}


def results_document(config: dict, results: list[dict], times_ms: list[float]) -> dict:
    return {'config': config, 'results': results, 'times_ms': [float(t) for t in times_ms]}


def pose_arrays(pose: dict) -> tuple[float, np.ndarray, np.ndarray]:
    """(score, (17, 2) x/y, (17,) keypoint scores) of a pose object."""
    keypoints = pose['keypoints']
    coords = np.array([[k['x'], k['y']] for k in keypoints], dtype=np.float64)
    scores = np.array([k['score'] for k in keypoints], dtype=np.float64)
    return float(pose['score']), coords, scores


def write_json_atomic(path: str | os.PathLike, document: dict) -> None:
    """
    Write JSON so that `path` holds either the old file or the complete new one, never half.

    Non-finite numbers are refused (JSON has none; the original's files never hold any).
    """
    write_file_atomic(path, json.dumps(document, allow_nan=False))


def _fail(path, where: str, what: str):
    raise ResultsFormatError(f'{path}: {where}: {what}')


def _number(value, path, where) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _fail(path, where, f'expected a finite number, got {value!r}')


def read_results(path: str | os.PathLike) -> dict:
    """Load and check a results file; ResultsFormatError names the first problem found."""
    path = Path(path)
    try:
        document = json.loads(path.read_text())
    except OSError as error:
        raise ResultsFormatError(f'{path}: cannot read: {error.strerror or error}') from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ResultsFormatError(f'{path}: not JSON: {error}') from None
    if not isinstance(document, dict) or not isinstance(document.get('results'), list):
        _fail(path, 'top level', 'expected an object with a "results" list')
    if not isinstance(document.get('config', {}), dict):
        _fail(path, 'config', 'expected an object')
    for i, result in enumerate(document['results']):
        where = f'results[{i}]'
        if not isinstance(result, dict) or not {'id', 'width', 'height', 'poses'} <= set(result):
            _fail(path, where, 'expected an object with id, width, height and poses')
        if not isinstance(result['poses'], list):
            _fail(path, f'{where}.poses', 'expected a list')
        for j, pose in enumerate(result['poses']):
            pose_where = f'{where}.poses[{j}]'
            if not isinstance(pose, dict) or not isinstance(pose.get('keypoints'), list):
                _fail(path, pose_where, 'expected an object with score and keypoints')
            _number(pose.get('score'), path, f'{pose_where}.score')
            if len(pose['keypoints']) != NUM_KEYPOINTS:
                _fail(path, f'{pose_where}.keypoints',
                      f'expected {NUM_KEYPOINTS} keypoints, got {len(pose["keypoints"])}')
            for k, keypoint in enumerate(pose['keypoints']):
                if not isinstance(keypoint, dict):
                    _fail(path, f'{pose_where}.keypoints[{k}]', 'expected an object')
                for field in ('score', 'x', 'y'):
                    _number(keypoint.get(field), path, f'{pose_where}.keypoints[{k}].{field}')
    return document
