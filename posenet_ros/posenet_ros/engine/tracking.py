"""
Persistent ids for the people of consecutive frames: pose similarity, motion, optimal matching.

Each frame's poses (image pixels, so the estimator's input size and stride may change between
frames) are matched to the tracks' predicted poses by object keypoint similarity (COCO's OKS with
its per-keypoint sigmas times `sigma_scale`, scaled by the larger of the two people's
keypoint-box areas) with
`scipy.optimize.linear_sum_assignment`. A track predicts its keypoints with a constant velocity of
the whole body (the median motion of the keypoints seen in both of its last two detections), all
in seconds from the frames' stamps, so dropped frames only mean a longer step. A new track is
tentative (id 0) until it has been matched `min_hits` times in a row; a tentative track missed
once is dropped, a confirmed one after `max_age` seconds unseen. Confirmed tracks get ids from 1
that are never reused in the tracker's lifetime.
"""
from __future__ import annotations

from dataclasses import dataclass
import math

import numpy as np

from .array_ops import all_finite
from .parts import NUM_KEYPOINTS

# COCO's per-keypoint OKS sigmas (cocoeval.py), in part order.
COCO_SIGMAS = np.array([0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07,
                        1.07, 0.87, 0.87, 0.89, 0.89]) / 10.0
_MIN_AREA = 1.0  # px^2: keeps a degenerate (one keypoint) box from dividing by zero


@dataclass(frozen=True)
class TrackerConfig:
    """
    How tracks are made, matched and ended.

    min_hits: matches in a row before a track is confirmed and gets an id (1 = at once).
    max_age: seconds a confirmed track is kept unseen (coasting on its velocity).
    min_similarity: least OKS (0..1] between a pose and a track's prediction to match them.
    min_keypoint_score: keypoints scoring lower are ignored (they are guesses).
    velocity_time_constant: seconds over which a track's velocity is averaged (each new
    measurement weighs 1 - exp(-dt / this), the same at any frame rate).
    sigma_scale: COCO's keypoint sigmas are multiplied by this (> 0) for matching: a frame's
    keypoints move and jitter more than COCO's annotators disagree (1.5: measured, see
    docs/people3d.md).
    """

    min_hits: int = 3
    max_age: float = 1.0
    min_similarity: float = 0.2
    min_keypoint_score: float = 0.2
    velocity_time_constant: float = 0.5
    sigma_scale: float = 1.5

    def check(self) -> 'TrackerConfig':
        if isinstance(self.min_hits, bool) or int(self.min_hits) != self.min_hits \
                or self.min_hits < 1:
            raise ValueError(f'min_hits must be a whole number >= 1, got {self.min_hits!r}')
        if not (math.isfinite(self.max_age) and self.max_age > 0):
            raise ValueError(f'max_age must be a positive number of seconds, got {self.max_age!r}')
        if not 0.0 < self.min_similarity <= 1.0:
            raise ValueError(f'min_similarity must be in (0, 1] (an OKS), got '
                             f'{self.min_similarity!r}')
        if not 0.0 <= self.min_keypoint_score <= 1.0:
            raise ValueError(f'min_keypoint_score must be in [0, 1], got '
                             f'{self.min_keypoint_score!r}')
        if not (math.isfinite(self.velocity_time_constant) and self.velocity_time_constant > 0):
            raise ValueError(f'velocity_time_constant must be a positive number of seconds, got '
                             f'{self.velocity_time_constant!r}')
        if not (math.isfinite(self.sigma_scale) and self.sigma_scale > 0):
            raise ValueError(f'sigma_scale must be a positive number, got {self.sigma_scale!r}')
        return self


def box_areas(coords: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(N,) area in px^2 of the box around each pose's valid keypoints (0 with none)."""
    # As planes of x and y: NumPy's reductions over the short (x, y) axis are slow.
    planes = np.ascontiguousarray(coords.transpose(2, 0, 1))
    size = np.where(valid, planes, -np.inf).max(axis=2) - np.where(valid, planes, np.inf).min(
        axis=2)
    return np.where(valid.any(axis=1), size[0] * size[1], 0.0)


def pose_similarity(coords_a: np.ndarray, valid_a: np.ndarray, area_a: np.ndarray,
                    coords_b: np.ndarray, valid_b: np.ndarray, area_b: np.ndarray,
                    sigma_scale: float = 1.0) -> np.ndarray:
    """
    Return the (A, B) object keypoint similarity of every pose of a with every pose of b.

    COCO's OKS, exp(-d^2 / (2 s^2 (2 k sigma)^2)) averaged over the keypoints valid in both,
    with s^2 the larger of the two poses' box areas and k = `sigma_scale`; 0 where no keypoint
    is valid in both.
    """
    # Squared distances of x and y apart (np.einsum over the (x, y) axis adds them alike).
    dx = coords_a[:, None, :, 0] - coords_b[None, :, :, 0]
    dy = coords_a[:, None, :, 1] - coords_b[None, :, :, 1]
    squared = dx * dx + dy * dy
    area = np.maximum(np.maximum(area_a[:, None], area_b[None]), _MIN_AREA)
    variances = (2.0 * sigma_scale * COCO_SIGMAS) ** 2
    similarity = np.exp(-squared / (2.0 * area[..., None] * variances))
    both = valid_a[:, None] & valid_b[None]
    count = both.sum(axis=2)
    total = np.where(both, similarity, 0.0).sum(axis=2)
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


class _Tracks:
    """Every track's state as arrays, one row per track (image pixels, seconds)."""

    def __init__(self):
        self.coords = np.zeros((0, NUM_KEYPOINTS, 2))  # pose when last matched (carried where
        self.known = np.zeros((0, NUM_KEYPOINTS), dtype=bool)  # a keypoint was not seen)
        self.stamp = np.zeros(0)  # when last matched
        self.velocity = np.zeros((0, 2))  # px/s of the whole body
        self.has_velocity = np.zeros(0, dtype=bool)
        self.hits = np.zeros(0, dtype=np.int64)
        self.ids = np.zeros(0, dtype=np.int64)  # 0 while tentative
        self.area = np.zeros(0)  # keypoint-box area of the last match, px^2

    def __len__(self) -> int:
        return self.stamp.shape[0]

    def predicted(self, stamp: float) -> np.ndarray:
        elapsed = (stamp - self.stamp)[:, None, None]
        return self.coords + np.where(self.has_velocity[:, None, None],
                                      self.velocity[:, None, :] * elapsed, 0.0)

    def keep(self, rows: np.ndarray) -> None:
        for name in ('coords', 'known', 'stamp', 'velocity', 'has_velocity', 'hits', 'ids',
                     'area'):
            setattr(self, name, getattr(self, name)[rows])

    def match(self, rows, coords, valid, areas, stamp: float, time_constant: float,
              predicted: np.ndarray) -> None:
        """
        Update tracks `rows` with the poses matched to them (rows and poses aligned).

        predicted: `predicted(stamp)` of every track, as the matching computed it.
        """
        if not len(rows):
            return
        elapsed = stamp - self.stamp[rows]
        common = valid & self.known[rows]
        motion = coords - self.coords[rows]
        # The median motion of x and y in one pass: (2, R, K) -> (R, 2).
        measured = median_of_masked(motion.transpose(2, 0, 1), common).T / np.where(
            elapsed > 0, elapsed, np.inf)[:, None]
        measurable = (elapsed > 0) & common.any(axis=1)
        weight = (1.0 - np.exp(-np.maximum(elapsed, 0.0) / time_constant))[:, None]
        blended = np.where(self.has_velocity[rows, None],
                           (1.0 - weight) * self.velocity[rows] + weight * measured, measured)
        predicted = predicted[rows]
        self.velocity[rows] = np.where(measurable[:, None], blended, self.velocity[rows])
        self.has_velocity[rows] |= measurable
        self.coords[rows] = np.where(valid[..., None], coords, predicted)
        self.known[rows] |= valid
        self.stamp[rows] = stamp
        self.hits[rows] += 1
        self.area[rows] = np.where(areas > 0, areas, self.area[rows])

    def add(self, coords, valid, areas, stamp: float) -> None:
        count = coords.shape[0]
        if not count:
            return
        self.coords = np.concatenate([self.coords, np.where(valid[..., None], coords, 0.0)])
        self.known = np.concatenate([self.known, valid])
        self.stamp = np.concatenate([self.stamp, np.full(count, stamp)])
        self.velocity = np.concatenate([self.velocity, np.zeros((count, 2))])
        self.has_velocity = np.concatenate([self.has_velocity, np.zeros(count, dtype=bool)])
        self.hits = np.concatenate([self.hits, np.ones(count, dtype=np.int64)])
        self.ids = np.concatenate([self.ids, np.zeros(count, dtype=np.int64)])
        self.area = np.concatenate([self.area, areas])


def median_of_masked(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """
    Row-wise median of values (..., R, K) where mask (R, K); 0 for rows with none.

    Leading axes of values share the mask (e.g. x and y of the same keypoints).
    """
    ordered = np.where(mask, values, np.inf)
    ordered.sort(axis=-1)
    count = mask.sum(axis=1)
    rows = np.arange(mask.shape[0])
    # A row without entries reads its first (inf) and is 0 below.
    low = ordered[..., rows, np.maximum((count - 1) // 2, 0)]
    high = ordered[..., rows, count // 2]
    return np.where(count > 0, 0.5 * (low + high), 0.0)


class PoseTracker:
    """
    Gives each pose of each frame a persistent id (0: not confirmed yet).

    `update(coords, scores, stamp)` takes a frame's poses in image pixels, (N, 17, 2) and
    (N, 17), with the frame's time in seconds, and returns (N,) int64 ids in the same order.
    """

    def __init__(self, config: TrackerConfig = TrackerConfig()):
        self.config = config.check()
        self._tracks = _Tracks()
        self._next_id = 1
        self._last_stamp: float | None = None

    @property
    def ids_issued(self) -> int:
        """How many ids this tracker has given out (ids are 1..ids_issued)."""
        return self._next_id - 1

    @property
    def active_ids(self) -> list[int]:
        """Ids of the confirmed tracks currently kept (seen or coasting)."""
        return [int(i) for i in self._tracks.ids if i]

    def reset(self) -> None:
        """Forget every track (after a jump back in time); ids keep counting up."""
        self._tracks = _Tracks()
        self._last_stamp = None

    def update(self, coords, scores, stamp: float) -> np.ndarray:
        stamp = float(stamp)
        if not math.isfinite(stamp):
            raise ValueError(f'stamp must be a finite number of seconds, got {stamp!r}')
        if self._last_stamp is not None and stamp < self._last_stamp:
            raise ValueError(f'stamp {stamp:.6f} s is before the previous frame '
                             f'({self._last_stamp:.6f} s): call reset() after a jump back in time')
        coords = np.asarray(coords, dtype=np.float64).reshape(-1, NUM_KEYPOINTS, 2)
        scores = np.asarray(scores, dtype=np.float64).reshape(-1, NUM_KEYPOINTS)
        if coords.shape[0] != scores.shape[0]:
            raise ValueError(f'{coords.shape[0]} poses but {scores.shape[0]} score rows')
        self._last_stamp = stamp
        config, tracks = self.config, self._tracks
        recent = stamp - tracks.stamp <= config.max_age
        if not recent.all():
            tracks.keep(recent)
        valid = (scores >= config.min_keypoint_score) & all_finite(coords)
        coords = np.where(valid[..., None], coords, 0.0)
        areas = box_areas(coords, valid)
        predicted = tracks.predicted(stamp)
        rows, poses = self._associate(coords, valid, areas, predicted)
        tracks.match(rows, coords[poses], valid[poses], areas[poses], stamp,
                     config.velocity_time_constant, predicted)
        # Tentative tracks missed in this frame end; confirmed ones coast until max_age.
        matched = np.zeros(len(tracks), dtype=bool)
        matched[rows] = True
        confirm = matched & (tracks.ids == 0) & (tracks.hits >= config.min_hits)
        if confirm.any():
            tracks.ids[confirm] = self._issue_ids(int(confirm.sum()))
        ids = np.zeros(coords.shape[0], dtype=np.int64)
        ids[poses] = tracks.ids[rows]
        kept = matched | (tracks.ids > 0)
        if not kept.all():
            tracks.keep(kept)
        new = np.ones(coords.shape[0], dtype=bool)
        new[poses] = False
        new &= valid.any(axis=1)
        first = len(tracks)
        tracks.add(coords[new], valid[new], areas[new], stamp)
        if config.min_hits <= 1 and new.any():
            tracks.ids[first:] = self._issue_ids(int(new.sum()))
            ids[new] = tracks.ids[first:]
        return ids

    def _issue_ids(self, count: int) -> np.ndarray:
        issued = np.arange(self._next_id, self._next_id + count, dtype=np.int64)
        self._next_id += count
        return issued

    def _associate(self, coords, valid, areas, predicted) -> tuple[np.ndarray, np.ndarray]:
        """(track rows, pose indices) matched by optimal assignment on OKS with `predicted`."""
        tracks = self._tracks
        if not len(tracks) or coords.shape[0] == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        similarity = pose_similarity(predicted, tracks.known, tracks.area,
                                     coords, valid, areas, self.config.sigma_scale)
        # Imported on first use: importing scipy.optimize costs ~0.7 s, paid by the node's
        # start-up when it came with the parameters module.
        from scipy.optimize import linear_sum_assignment
        rows, cols = linear_sum_assignment(similarity, maximize=True)
        keep = similarity[rows, cols] >= self.config.min_similarity
        return rows[keep], cols[keep]
