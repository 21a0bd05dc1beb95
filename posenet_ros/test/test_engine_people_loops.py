"""
The per-frame people steps equal plain loops over people and keypoints, bit for bit.

`people_in_3d`, the tracker's box areas and motion medians and the One-Euro smoother work on
every person at once, arranged for speed (a few hundred microseconds a frame for ten people);
here each is computed again one person, keypoint and reading at a time, straight from its
definition, on real data: the COCO depth scenes of test_engine_depth.py (with keypoints moved
across the image's border too) and the estimator's poses on the walking sequences.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
from posenet_ros.engine.camera_model import _UNDISTORT_CRITERIA, map_pixels
from posenet_ros.engine.depth import (DepthConfig, people_in_3d, SUPPORT_FRACTION,
                                      TORSO_PARTS)
from posenet_ros.engine.parts import SKELETON
from posenet_ros.engine.smoothing import OneEuroConfig, OneEuroSmoother, smoothing_factor
from posenet_ros.engine.tracking import (box_areas, COCO_SIGMAS, median_of_masked,
                                         pose_similarity, PoseTracker)
import pytest
from synthetic_people import coco_annotations, depth_scene, estimated_sequence
from test_engine_depth import camera_for, CASES, photos_with_people

# pycocotools decodes masks through an __array__ without NumPy 2's copy keyword.
pytestmark = pytest.mark.filterwarnings('ignore:__array__ implementation:DeprecationWarning')


def same(actual, expected) -> None:
    """Equal bit for bit (NaN where NaN)."""
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    assert np.array_equal(actual, expected, equal_nan=actual.dtype.kind == 'f')


# ------------------------------------------------------------------------------------------
# people_in_3d
# ------------------------------------------------------------------------------------------

def median(values) -> float:
    """np.median of float64 values, NaN for none."""
    return float(np.median(np.asarray(values, dtype=np.float64))) if len(values) else math.nan


def window_depth(depth, encoding, x, y, config, near=None) -> float:
    """
    Median depth (metres) of the readings in range around pixel (x, y).

    NaN with fewer than min_support. near: only readings within max_deviation of it.
    """
    unit = 1e-3 if encoding in ('16UC1', 'mono16') else 1.0
    height, width = depth.shape
    if not (math.isfinite(x) and math.isfinite(y)):
        return math.nan
    half = config.window // 2
    cx, cy = math.floor(x + 0.5), math.floor(y + 0.5)
    kept = []
    for row in range(cy - half, cy + half + 1):
        for column in range(cx - half, cx + half + 1):
            inside = 0 <= row < height and 0 <= column < width
            reading = depth[row, column] if inside else depth.dtype.type(0)
            if not config.depth_min / unit <= reading <= config.depth_max / unit:
                continue
            if not reading > 0:  # 0 is no reading in every encoding, whatever depth_min
                continue
            if near is None:
                kept.append(reading)
            elif abs(float(reading) * unit - near) <= config.max_deviation:
                kept.append(float(reading) * unit)  # re-measured in metres
    if len(kept) < config.min_support:
        return math.nan
    return median(kept) if near is not None else median(kept) * unit


def person_depth(depths, weights, max_deviation) -> float:
    """Return the median of the supporters of the nearest reading supported well enough."""
    finite = [math.isfinite(d) for d in depths]
    support = [sum(w for e, w in zip(depths, weights) if abs(d - e) <= max_deviation)
               if ok else 0.0 for d, ok in zip(depths, finite)]
    best_support = max(support)
    needed = max(SUPPORT_FRACTION * best_support, min(2.0, best_support))
    best = None
    for d, ok, s in zip(depths, finite, support):
        if ok and s >= needed - 1e-9 and (best is None or d < best):
            best = d
    if best is None:
        return math.nan
    return median([d for d, ok in zip(depths, finite) if ok and abs(d - best) <= max_deviation])


def ray(camera, x, y, rectified) -> tuple[float, float]:
    """Return (x/z, y/z) of the ray through pixel (x, y), with OpenCV's undistortion."""
    if rectified or not np.any(camera.D != 0):
        matrix = camera.P[:, :3] if rectified else camera.K
        return (x - matrix[0, 2]) / matrix[0, 0], (y - matrix[1, 2]) / matrix[1, 1]
    point = np.array([[[x, y]]])
    if camera.distortion_model == 'equidistant':
        ideal = cv2.fisheye.undistortPoints(point, camera.K, camera.D,
                                            criteria=_UNDISTORT_CRITERIA)
    else:
        ideal = cv2.undistortPoints(point, camera.K, camera.D, criteria=_UNDISTORT_CRITERIA)
    return float(ideal[0, 0, 0]), float(ideal[0, 0, 1])


def torso_centre(torso, reference, tolerance) -> list[float]:
    """Return the median of the torso points within `tolerance` of the one nearest reference."""
    reference = float(np.nan_to_num(reference, nan=0.0))
    have = [all(math.isfinite(v) for v in point) for point in torso]
    gaps = [abs(point[2] - reference) if ok else math.inf for point, ok in zip(torso, have)]
    anchor = torso[gaps.index(min(gaps))][2]
    members = [point for point, ok in zip(torso, have)
               if ok and abs(point[2] - anchor) <= tolerance]
    return [median([point[axis] for point in members]) for axis in range(3)]


def loop_people_in_3d(depth, encoding, pixels, valid, camera, config, image_size, rectified):
    """people_in_3d one person and point at a time: (keypoints, positions)."""
    height, width = depth.shape
    at_depth = map_pixels(pixels, image_size, (width, height)) \
        if tuple(image_size) != (width, height) else pixels
    weights = [2.0 if part in TORSO_PARTS else 1.0 for part in range(17)] \
        + [1.0] * len(SKELETON) + [2.0]
    keypoints = np.full((len(pixels), 17, 3), np.nan)
    positions = np.full((len(pixels), 3), np.nan)
    for person, points in enumerate(at_depth):
        ok = [bool(valid[person, k]) and bool(np.isfinite(points[k]).all()) for k in range(17)]
        places = [points[k] if ok[k] else None for k in range(17)]
        places += [0.5 * (points[a] + points[b]) if ok[a] and ok[b] else None
                   for a, b in SKELETON]
        torso = [points[k] for k in TORSO_PARTS if ok[k]]
        centre = None
        if torso:
            total = np.zeros(2)
            for point in torso:
                total = total + point
            centre = total / len(torso)
        places.append(centre)
        depths = [math.nan if place is None else
                  window_depth(depth, encoding, place[0], place[1], config)
                  for place in places]
        reference = person_depth(depths, weights, config.max_deviation)
        for k in range(17):
            z = depths[k]
            if abs(z - reference) > config.max_deviation:
                z = window_depth(depth, encoding, points[k][0], points[k][1], config,
                                 near=reference)
            x, y = pixels[person, k]
            if math.isnan(z) or not (math.isfinite(x) and math.isfinite(y)):
                continue
            rx, ry = ray(camera, x, y, rectified)
            if math.isfinite(rx) and math.isfinite(ry):
                keypoints[person, k] = (rx * z, ry * z, z)
        positions[person] = torso_centre(keypoints[person, list(TORSO_PARTS)], reference,
                                         0.5 * config.max_deviation)
    return keypoints, positions


def coco_depth_cases(data_path):
    """(depth, encoding, pixels, valid, camera, image size) of the COCO depth scenes."""
    coco = coco_annotations(data_path)
    rng = np.random.default_rng(7)
    for name in sorted(CASES):
        scale, encoding, model, coefficients = CASES[name]
        for image_id in photos_with_people(data_path)[::3]:
            info = coco['images'][image_id]
            width, height = info['width'], info['height']
            scene = depth_scene(data_path, image_id, rng, encoding=encoding,
                                depth_size=(round(width * scale), round(height * scale)))
            keep = [i for i, a in enumerate(scene.people) if a['num_keypoints'] > 0]
            pixels = scene.keypoints[keep]
            camera = camera_for(width, height, model, coefficients)
            yield scene.depth, encoding, pixels, np.isfinite(pixels).all(axis=2), camera, (
                width, height)
            # Off the joints, some across or past the image's border, some not measured.
            moved = pixels + rng.normal(0, 15, pixels.shape)
            moved[rng.random(moved.shape[:2]) < 0.15] *= rng.choice([-0.05, 1.1], 2)
            valid = np.isfinite(moved).all(axis=2) & (rng.random(moved.shape[:2]) < 0.85)
            yield scene.depth, encoding, moved, valid, camera, (width, height)


@pytest.mark.parametrize('config, rectified', [
    (DepthConfig(), False),
    (DepthConfig(window=3, depth_min=0.0, depth_max=5.0, min_support=2), True)])
def test_people_in_3d_equals_the_loops(data_path, config, rectified):
    calls = 0
    for depth, encoding, pixels, valid, camera, size in coco_depth_cases(data_path):
        people = people_in_3d(depth, encoding, pixels, valid, camera, rectified=rectified,
                              config=config, image_size=size)
        keypoints, positions = loop_people_in_3d(depth, encoding, pixels, valid, camera,
                                                 config, size, rectified)
        same(people.keypoints, keypoints)
        same(people.positions, positions)
        same(people.has_keypoint, np.isfinite(keypoints).all(axis=2))
        same(people.has_position, np.isfinite(positions).all(axis=1))
        calls += 1
    assert calls > 150


# ------------------------------------------------------------------------------------------
# Tracking
# ------------------------------------------------------------------------------------------

def sequence_poses(models_path, data_path):
    """(coords, scores) of every frame of two walking sequences (the estimator's poses)."""
    for name in ('crossing', 'leave_and_return'):
        _, poses = estimated_sequence(models_path, data_path, name)
        for frame in poses:
            coords = np.array([p.keypoint_coords for p in frame]).reshape(-1, 17, 2)
            scores = np.array([p.keypoint_scores for p in frame]).reshape(-1, 17)
            yield coords, scores


def test_box_areas_and_motion_medians_equal_the_loops(models_path, data_path):
    rng = np.random.default_rng(0)
    frames = 0
    for coords, scores in sequence_poses(models_path, data_path):
        valid = scores >= 0.2
        expected = []
        for pose, ok in zip(coords, valid):
            seen = pose[ok]
            expected.append(float(np.ptp(seen[:, 0]) * np.ptp(seen[:, 1])) if len(seen) else 0.0)
        same(box_areas(np.where(valid[..., None], coords, 0.0), valid), np.array(expected))
        motion = coords + rng.normal(0, 3, coords.shape) - coords[::-1]
        medians = median_of_masked(motion.transpose(2, 0, 1), valid)
        for axis in (0, 1):
            same(medians[axis], np.array([median(row[ok]) if ok.any() else 0.0
                                          for row, ok in zip(motion[..., axis], valid)]))
        frames += 1
    assert frames > 50


def test_pose_similarity_equals_oks_summed_with_einsum(models_path, data_path):
    """Squared distances from x and y apart equal np.einsum's over the (x, y) axis."""
    previous = None
    pairs = 0
    for coords, scores in sequence_poses(models_path, data_path):
        valid = scores >= 0.2
        coords = np.where(valid[..., None], coords, 0.0)
        areas = box_areas(coords, valid)
        if previous is not None:
            diff = previous[0][:, None] - coords[None]
            squared = np.einsum('abkc,abkc->abk', diff, diff)
            area = np.maximum(np.maximum(previous[2][:, None], areas[None]), 1.0)
            similarity = np.exp(-squared / (2.0 * area[..., None] * (3.0 * COCO_SIGMAS) ** 2))
            both = previous[1][:, None] & valid[None]
            count = both.sum(axis=2)
            total = np.where(both, similarity, 0.0).sum(axis=2)
            same(pose_similarity(*previous, coords, valid, areas, 1.5),
                 np.where(count > 0, total / np.maximum(count, 1), 0.0))
            pairs += count.size
        previous = coords, valid, areas
    assert pairs > 100


# ------------------------------------------------------------------------------------------
# Smoothing
# ------------------------------------------------------------------------------------------

class LoopOneEuro:
    """OneEuroSmoother one track and keypoint at a time."""

    def __init__(self, config: OneEuroConfig):
        self.config = config
        self.states: dict[int, dict[int, list]] = {}  # id -> keypoint -> [value, speed, stamp]
        self.seen: dict[int, float] = {}

    def smooth(self, ids, values, valid, stamp):
        out = np.full(values.shape, np.nan)
        for row, track in enumerate(ids.tolist()):
            for part in range(values.shape[1]):
                value = values[row, part]
                if not (valid[row, part] and np.isfinite(value).all()):
                    continue
                if not track:
                    out[row, part] = value
                    continue
                state = self.states.setdefault(track, {}).get(part)
                if state is None:
                    state = self.states[track][part] = [value.copy(), np.zeros_like(value),
                                                        stamp]
                elif stamp > state[2]:
                    previous, speed, dt = state[0], state[1], stamp - state[2]
                    speed = speed + smoothing_factor(self.config.d_cutoff, dt) * (
                        (value - previous) / dt - speed)
                    norm = 0.0
                    for component in speed:
                        norm = norm + component * component
                    cutoff = self.config.min_cutoff + self.config.beta * math.sqrt(norm)
                    state[:] = [previous + smoothing_factor(cutoff, dt) * (value - previous),
                                speed, stamp]
                out[row, part] = state[0]
            if track:
                self.states.setdefault(track, {})
                self.seen[track] = max(self.seen.get(track, -math.inf), stamp)
        for track in [t for t, seen in self.seen.items()
                      if seen < stamp - self.config.forget_after]:
            del self.seen[track], self.states[track]
        return out


@pytest.mark.parametrize('config', [OneEuroConfig(), OneEuroConfig(min_cutoff=0.5, beta=10.0,
                                                                   forget_after=0.3)])
def test_one_euro_smoothing_equals_the_loops(models_path, data_path, config):
    """In pixels and, with a depth made up per keypoint, in 3D; missed keypoints and ids too."""
    rng = np.random.default_rng(1)
    tracker = PoseTracker()
    fast = {2: OneEuroSmoother(config), 3: OneEuroSmoother(config)}
    loops = {2: LoopOneEuro(config), 3: LoopOneEuro(config)}
    stamp, frames = 0.0, 0
    for coords, scores in sequence_poses(models_path, data_path):
        stamp += rng.choice([0.0, 0.05, 0.1, 0.3])  # repeated stamps and dropped frames
        ids = tracker.update(coords, scores, stamp)
        valid = scores >= 0.2
        points = np.concatenate([coords, rng.uniform(1, 5, coords.shape[:2] + (1,))], axis=2)
        points[rng.random(points.shape[:2]) < 0.1] = np.nan
        for dims, values in ((2, coords), (3, points)):
            same(fast[dims].smooth(ids, values, valid, stamp),
                 loops[dims].smooth(ids, values, valid, stamp))
        frames += 1
    assert frames > 50
