"""
What people in 3D with lasting identities cost and how they behave (figures, not tests).

    posenet_bench_people --cost       # depth + tracking + smoothing, 10 people
    posenet_bench_people --video      # ids over ../shared/data/video/vtest.avi
    posenet_bench_people --smoothing  # jitter vs lag of One-Euro settings
    posenet_bench_people --all

--cost: per frame of 10 people (640x480 16UC1 depth, window 5), median and 90th percentile ms of
`people_in_3d`, `PoseTracker.update`, `OneEuroSmoother.smooth` in pixels and in metres; goal: all
together at most 1 ms. Then the node's PoseArray of those people, as it publishes it (when
posenet_msgs can be imported; not part of the goal). --video: the estimator (the node's
configuration) and the tracker on a real pedestrian video: distinct confirmed ids, mean track
length, and the same for norfair when it can be imported (it is not a dependency). --smoothing:
a still photo streamed with sensor noise and the same photo sliding sideways: keypoint jitter and
lag for One-Euro settings.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
import sys
import time
import warnings

import numpy as np
from posenet_ros.engine.camera_model import CameraModel
from posenet_ros.engine.depth import DepthConfig, people_in_3d
from posenet_ros.engine.smoothing import METRE_DEFAULTS, OneEuroConfig, OneEuroSmoother
from posenet_ros.engine.tracking import PoseTracker, TrackerConfig
from posenet_tools.shared_data import models_dir, shared_dir

VIDEO = Path('data/video/vtest.avi')
STILL_PHOTO = Path('data/coco_kpts/images/000000000139.jpg')
# The node's ready configuration (config/posenet.yaml).
NODE_CONFIG = {'decoding': 'multi', 'input_height': 353, 'input_width': 481, 'output_stride': 16,
               'max_pose_detections': 10, 'score_threshold': 0.1, 'nms_radius': 30.0,
               'match_aspect_ratio': True, 'refine_keypoints': True, 'pose_score_keypoints': 5}
MIN_POSE_SCORE = 0.35
STANDING = np.array([
    [0, -190], [-6, -196], [6, -196], [-14, -192], [14, -192], [-30, -160], [30, -160],
    [-40, -120], [40, -120], [-44, -85], [44, -85], [-18, -90], [18, -90], [-20, -45],
    [20, -45], [-20, 0], [20, 0]], dtype=np.float64) * 0.9


def _percentiles(times_ms: list[float]) -> str:
    ordered = np.sort(times_ms)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    return f'median {np.median(ordered):.3f} ms, p90 {p90:.3f} ms'


def bench_cost(frames: int = 400, people: int = 10, seed: int = 0) -> None:
    """Depth, tracking and smoothing of `people` walking people per frame, timed separately."""
    rng = np.random.default_rng(seed)
    width, height = 640, 480
    camera = CameraModel.from_fields(width, height, [600, 0, 319.5, 0, 600, 239.5, 0, 0, 1],
                                     [0.05, -0.02, 0.0, 0.0, 0.0])
    starts = np.column_stack([rng.uniform(40, 600, people), rng.uniform(250, 470, people)])
    velocities = rng.uniform(-60, 60, (people, 2))
    distances = rng.uniform(1.5, 6.0, people)
    tracker = PoseTracker(TrackerConfig())
    pixel_smoother, metre_smoother = OneEuroSmoother(), OneEuroSmoother(METRE_DEFAULTS)
    timings = {'depth': [], 'tracking': [], 'smoothing px': [], 'smoothing 3D': [], 'all': []}
    config = DepthConfig()
    message = _message_builder(width, height)
    for index in range(frames):
        stamp = index / 30.0
        feet = starts + velocities * stamp
        coords = feet[:, None, :] + STANDING[None] + rng.normal(0, 1.0, (people, 17, 2))
        scores = rng.uniform(0.3, 1.0, (people, 17))
        depth = np.full((height, width), 8000, dtype=np.uint16)
        for person in np.argsort(-distances):
            x0, y0 = np.clip((feet[person] + (-40, -200)).astype(int), 0, [width, height])
            x1, y1 = np.clip((feet[person] + (40, 0)).astype(int), 0, [width, height])
            depth[y0:y1, x0:x1] = int(distances[person] * 1000)
        valid = scores >= 0.3
        start = time.perf_counter()
        people3d = people_in_3d(depth, '16UC1', coords, valid, camera, config=config)
        t1 = time.perf_counter()
        ids = tracker.update(coords, scores, stamp)
        t2 = time.perf_counter()
        pixel_smoother.smooth(ids, coords, valid, stamp)
        t3 = time.perf_counter()
        metre_smoother.smooth(ids, people3d.keypoints, people3d.has_keypoint, stamp)
        t4 = time.perf_counter()
        if message is not None:
            message(coords, scores, people3d, ids)
        t5 = time.perf_counter()
        if index >= 20:  # after warm-up (first calls, tracks being confirmed)
            for name, value in (('depth', t1 - start), ('tracking', t2 - t1),
                                ('smoothing px', t3 - t2), ('smoothing 3D', t4 - t3),
                                ('all', t4 - start), ('message', t5 - t4)):
                timings.setdefault(name, []).append(value * 1e3)
    load = ', '.join(f'{value:.1f}' for value in os.getloadavg())
    print(f'cost per frame, {people} people, 640x480 16UC1 depth, window {config.window}, '
          f'{frames - 20} frames (load average {load} on {os.cpu_count()} cores):')
    for name, values in timings.items():
        if name == 'message' and message is None:
            print('  message       skipped: posenet_msgs cannot be imported (source env.sh)')
        else:
            note = ' (the PoseArray, not in all)' if name == 'message' else ''
            print(f'  {name:13s} {_percentiles(values)}{note}')


def _message_builder(width: int, height: int):
    """
    Return a function building the node's PoseArray of a frame's people, or None.

    As the node publishes it: its serialized bytes where the middleware takes them
    (`stages/poses.py`), the message otherwise.
    """
    try:
        from posenet_ros.engine.people import PeopleFrame
        from posenet_ros.ros.pose_array_wire import pose_array_builder
        from std_msgs.msg import Header
    except ImportError:
        return None
    header = Header()
    to_pose_array = pose_array_builder()

    def build(coords, scores, people3d, ids):
        people = PeopleFrame(
            image_width=width, image_height=height, scores=scores.mean(axis=1),
            keypoint_scores=scores, keypoint_coords=coords,
            keypoint_positions=people3d.keypoints, has_keypoint_position=people3d.has_keypoint,
            positions=people3d.positions, has_position=people3d.has_position, track_ids=ids)
        return to_pose_array(people, header)
    return build


def _estimator(models_dir: Path):
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    from posenet_ros.engine import EstimateConfig, PoseEstimator
    return (PoseEstimator(str(models_dir / 'mobilenet_quant2_075')),
            EstimateConfig(**NODE_CONFIG))


def _pose_arrays(poses):
    poses = [pose for pose in poses if pose.score >= MIN_POSE_SCORE]
    coords = np.array([pose.keypoint_coords for pose in poses]).reshape(-1, 17, 2)
    scores = np.array([pose.keypoint_scores for pose in poses]).reshape(-1, 17)
    return coords, scores


def bench_video(shared: Path, models_dir: Path, limit: int | None = None) -> None:
    """Ids over a real pedestrian video: ours, and norfair's when it can be imported."""
    import cv2
    path = shared / VIDEO
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        sys.exit(f'bench_people: cannot open {path}')
    fps = capture.get(cv2.CAP_PROP_FPS) or 10.0
    estimator, config = _estimator(models_dir)
    detections = []
    while limit is None or len(detections) < limit:
        ok, frame = capture.read()
        if not ok:
            break
        result = estimator.estimate(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), config)
        detections.append(_pose_arrays(result.poses))
    stamps = np.arange(len(detections)) / fps
    poses = sum(len(c) for c, _ in detections)
    print(f'{path.name}: {len(detections)} frames at {fps:g} Hz, {poses} poses scoring >= '
          f'{MIN_POSE_SCORE} ({poses / max(len(detections), 1):.1f} a frame)')
    tracker = PoseTracker(TrackerConfig())
    runs, times = [], []
    for (coords, scores), stamp in zip(detections, stamps):
        start = time.perf_counter()
        runs.append(tracker.update(coords, scores, stamp))
        times.append((time.perf_counter() - start) * 1e3)
    _print_tracks('ours (PoseTracker defaults)', runs, fps, poses, times)
    try:
        import norfair
    except ImportError:
        print('norfair: not importable here (not a dependency); skipped')
        return
    tracker = norfair.Tracker(distance_function='mean_euclidean', distance_threshold=40,
                              hit_counter_max=10, initialization_delay=2)
    runs, times = [], []
    for coords, scores in detections:
        start = time.perf_counter()
        items = [norfair.Detection(points=c, scores=s) for c, s in zip(coords, scores)]
        tracked = tracker.update(items)
        ids = np.zeros(len(items), dtype=np.int64)
        for track in tracked:
            if track.last_detection is not None and track.last_detection in items \
                    and track.hit_counter_is_positive:
                ids[items.index(track.last_detection)] = track.id
        runs.append(ids)
        times.append((time.perf_counter() - start) * 1e3)
    _print_tracks(f'norfair {norfair.__version__} (mean_euclidean 40 px, hit_counter_max 10, '
                  f'initialization_delay 2)', runs, fps, poses, times)


def _print_tracks(name, runs, fps, poses, times) -> None:
    frames_per_id: dict[int, list[int]] = {}
    for index, ids in enumerate(runs):
        for track_id in ids.tolist():
            if track_id > 0:
                frames_per_id.setdefault(track_id, []).append(index)
    lengths = np.array([len(v) for v in frames_per_id.values()]) if frames_per_id else np.zeros(1)
    spans = np.array([(v[-1] - v[0] + 1) / fps for v in frames_per_id.values()]) \
        if frames_per_id else np.zeros(1)
    with_id = sum(int((ids > 0).sum()) for ids in runs)
    print(f'  {name}: {len(frames_per_id)} distinct confirmed ids, mean track length '
          f'{lengths.mean():.1f} frames (median {np.median(lengths):.0f}), mean span '
          f'{spans.mean():.1f} s, {100 * with_id / max(poses, 1):.1f}% of poses with an id, '
          f'{_percentiles(times)} per frame')


def bench_smoothing(shared: Path, models_dir: Path, frames: int = 60, rate: float = 30.0,
                    speed: float = 120.0) -> None:
    """Jitter of a still person and lag of a moving one for a grid of One-Euro settings."""
    from PIL import Image
    import cv2
    image = np.asarray(Image.open(shared / STILL_PHOTO).convert('RGB'))
    estimator, config = _estimator(models_dir)
    rng = np.random.default_rng(1)
    still, moving = [], []
    height, width = image.shape[:2]
    for index in range(frames):
        noisy = np.clip(image + rng.normal(0, 4.0, image.shape), 0, 255).astype(np.uint8)
        still.append(_pose_arrays(estimator.estimate(noisy, config).poses))
        shift = speed * index / rate - speed * frames / rate / 2
        moved = cv2.warpAffine(noisy, np.float32([[1, 0, shift], [0, 1, 0]]), (width, height),
                               borderMode=cv2.BORDER_REFLECT)
        moving.append(_pose_arrays(estimator.estimate(moved, config).poses))
    stamps = np.arange(frames) / rate
    print(f'smoothing: {STILL_PHOTO.name}, {frames} frames at {rate:g} Hz, image noise sigma 4; '
          f'moving: the same sliding at {speed:g} px/s. jitter = median over keypoints of the '
          f'position std (after 10 frames); lag = mean distance the smoothed keypoints trail '
          f'the raw ones along the motion')
    settings = [None] + [OneEuroConfig(min_cutoff=c, beta=b) for c in (0.5, 1.0, 2.0)
                         for b in (0.0, 0.01, 0.05, 0.2)]
    for setting in settings:
        jitter = _jitter(still, stamps, setting)
        lag = _lag(moving, stamps, setting)
        name = 'raw' if setting is None else f'min_cutoff {setting.min_cutoff:4.1f} beta ' \
            f'{setting.beta:5.2f}'
        print(f'  {name:28s} jitter {jitter:5.2f} px   lag {lag:5.2f} px')


def bench_smoothing_3d(frames: int = 90, rate: float = 30.0, distance: float = 3.0,
                       speed: float = 1.0, noise: float = 0.01, seed: int = 2) -> None:
    """
    Measure jitter and lag of 3D keypoints (metres) for One-Euro settings.

    A synthetic person at `distance` in a 16UC1 depth image with `noise` relative per-pixel
    noise, still or walking sideways at `speed` m/s; pixels with 1 px keypoint noise.
    """
    rng = np.random.default_rng(seed)
    width, height, focal = 640, 480, 600.0
    camera = CameraModel.from_fields(width, height, [focal, 0, 319.5, 0, focal, 239.5, 0, 0, 1])
    scores = np.full((1, 17), 0.9)

    def series(moving: bool):
        out = []
        for index in range(frames):
            shift = speed * focal / distance * (index / rate - frames / rate / 2) if moving else 0
            feet = np.array([320.0 + shift, 400.0])
            coords = (feet + STANDING * 1.3 + rng.normal(0, 1.0, (17, 2)))[None]
            depth = np.full((height, width), 7.0)
            x0, x1 = int(feet[0] - 60), int(feet[0] + 60)
            depth[int(feet[1] - 260):int(feet[1]), max(x0, 0):max(x1, 0)] = distance
            depth = depth * (1 + noise * rng.standard_normal(depth.shape))
            people = people_in_3d(np.round(depth * 1000).astype(np.uint16), '16UC1', coords,
                                  scores > 0.5, camera)
            out.append(people.keypoints)
        return out

    still, walking = series(False), series(True)
    stamps = np.arange(frames) / rate
    print(f'smoothing in 3D: person at {distance:g} m, depth noise {100 * noise:g}% per pixel, '
          f'{frames} frames at {rate:g} Hz; walking sideways at {speed:g} m/s. jitter = median '
          f'over keypoints of the 3D position std; lag = mean distance the smoothed keypoints '
          f'trail the raw ones along the motion')
    settings = [None] + [OneEuroConfig(min_cutoff=c, beta=b) for c in (0.5, 1.0)
                         for b in (0.0, 1.0, 10.0, 40.0)]
    for setting in settings:
        runs = []
        for points in (still, walking):
            smoother = OneEuroSmoother(setting) if setting else None
            values = []
            for keypoints, stamp in zip(points, stamps):
                have = np.isfinite(keypoints).all(axis=2)
                values.append(keypoints[0] if smoother is None
                              else smoother.smooth([1], keypoints, have, stamp)[0])
            runs.append(np.array(values)[10:])
        jitter = float(np.nanmedian(np.linalg.norm(np.nanstd(runs[0], axis=0), axis=1)))
        raw = np.array([k[0] for k in walking])[10:]
        lag = float(np.nanmean(raw[..., 0] - runs[1][..., 0]))
        name = 'raw' if setting is None else f'min_cutoff {setting.min_cutoff:4.1f} beta ' \
            f'{setting.beta:5.1f}'
        print(f'  {name:28s} jitter {1000 * jitter:6.1f} mm   lag {1000 * lag:6.1f} mm')


def _first_track(detections, stamps, setting):
    tracker = PoseTracker(TrackerConfig(min_hits=1))
    smoother = OneEuroSmoother(setting) if setting is not None else None
    chosen, series = None, []
    for (coords, scores), stamp in zip(detections, stamps):
        ids = tracker.update(coords, scores, stamp)
        values = coords if smoother is None else smoother.smooth(ids, coords, scores >= 0.2,
                                                                 stamp)
        if chosen is None and len(ids):
            chosen = int(ids[np.argmax([s.mean() for s in scores])])
        rows = np.flatnonzero(ids == chosen) if chosen else []
        series.append(values[rows[0]] if len(rows) else np.full((17, 2), np.nan))
    return np.array(series)


def _jitter(detections, stamps, setting) -> float:
    series = _first_track(detections, stamps, setting)[10:]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)  # a keypoint seen once has no spread
        return float(np.nanmedian(np.linalg.norm(np.nanstd(series, axis=0), axis=1)))


def _lag(detections, stamps, setting) -> float:
    raw = _first_track(detections, stamps, None)[10:]
    smoothed = _first_track(detections, stamps, setting)[10:]
    return float(np.nanmean(raw[..., 0] - smoothed[..., 0]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--cost', action='store_true')
    parser.add_argument('--video', action='store_true')
    parser.add_argument('--smoothing', action='store_true')
    parser.add_argument('--all', action='store_true')
    parser.add_argument('--frames', type=int, default=None, help='--video: at most this many')
    parser.add_argument('--shared', type=Path, default=shared_dir())
    parser.add_argument('--models', type=Path, default=None,
                        help='weights folder (default: $POSENET_MODELS or SHARED/models/posenet)')
    args = parser.parse_args(argv)
    args.models = args.models or models_dir(args.shared)
    if not (args.cost or args.video or args.smoothing or args.all):
        args.cost = True
    if args.cost or args.all:
        bench_cost()
    if args.smoothing or args.all:
        bench_smoothing_3d()
        bench_smoothing(args.shared, args.models)
    if args.video or args.all:
        bench_video(args.shared, args.models, args.frames)
    return 0


if __name__ == '__main__':
    sys.exit(main())
