"""Persistent ids for the people of consecutive frames: pose similarity, motion, optimal matching.

Each frame's poses (image pixels, so the estimator's input size and stride may change between
frames) are matched to the tracks' predicted poses by object keypoint similarity (COCO's OKS with
its per-keypoint sigmas, scaled by the larger of the two people's keypoint-box areas) with
`scipy.optimize.linear_sum_assignment`. A track predicts its keypoints with a constant velocity of
the whole body (the median motion of the keypoints seen in both of its last two detections), all
in seconds from the frames' stamps, so dropped frames only mean a longer step. A new track is
tentative (id 0) until it has been matched `min_hits` times in a row; a tentative track missed
once is dropped, a confirmed one after `max_age` seconds unseen. Confirmed tracks get ids from 1
that are never reused in the tracker's lifetime.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from .parts import NUM_KEYPOINTS

# COCO's per-keypoint OKS sigmas (cocoeval.py), in part order.
COCO_SIGMAS = np.array([0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07,
                        1.07, 0.87, 0.87, 0.89, 0.89]) / 10.0
_MIN_AREA = 1.0  # px^2: keeps a degenerate (one keypoint) box from dividing by zero


@dataclass(frozen=True)
class TrackerConfig:
    """How tracks are made, matched and ended.

    min_hits: matches in a row before a track is confirmed and gets an id (1 = at once).
    max_age: seconds a confirmed track is kept unseen (coasting on its velocity).
    min_similarity: least OKS (0..1] between a pose and a track's prediction to match them.
    min_keypoint_score: keypoints scoring lower are ignored (they are guesses).
    velocity_smoothing: weight (0..1] of each new velocity measurement (1: latest only).
    """

    min_hits: int = 3
    max_age: float = 1.0
    min_similarity: float = 0.2
    min_keypoint_score: float = 0.2
    velocity_smoothing: float = 0.5

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
        if not 0.0 < self.velocity_smoothing <= 1.0:
            raise ValueError(f'velocity_smoothing must be in (0, 1], got '
                             f'{self.velocity_smoothing!r}')
        return self


def box_areas(coords: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(N,) area in px^2 of the box around each pose's valid keypoints (0 with none)."""
    low = np.where(valid[..., None], coords, np.inf).min(axis=1)
    high = np.where(valid[..., None], coords, -np.inf).max(axis=1)
    size = np.where(valid.any(axis=1)[:, None], high - low, 0.0)
    return size[:, 0] * size[:, 1]


def pose_similarity(coords_a: np.ndarray, valid_a: np.ndarray, area_a: np.ndarray,
                    coords_b: np.ndarray, valid_b: np.ndarray, area_b: np.ndarray
                    ) -> np.ndarray:
    """(A, B) object keypoint similarity of every pose of a with every pose of b.

    COCO's OKS, exp(-d^2 / (2 s^2 (2 sigma)^2)) averaged over the keypoints valid in both, with
    s^2 the larger of the two poses' box areas; 0 where no keypoint is valid in both.
    """
    diff = coords_a[:, None] - coords_b[None]
    squared = np.einsum('abkc,abkc->abk', diff, diff)
    area = np.maximum(np.maximum(area_a[:, None], area_b[None]), _MIN_AREA)
    variances = (2.0 * COCO_SIGMAS) ** 2
    similarity = np.exp(-squared / (2.0 * area[..., None] * variances))
    both = valid_a[:, None] & valid_b[None]
    count = both.sum(axis=2)
    total = np.where(both, similarity, 0.0).sum(axis=2)
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


class _Track:
    """One person followed over frames (image pixels, seconds)."""

    __slots__ = ('coords', 'known', 'stamp', 'velocity', 'hits', 'track_id', 'area')

    def __init__(self, coords: np.ndarray, valid: np.ndarray, stamp: float):
        self.coords = np.where(valid[:, None], coords, 0.0)
        self.known = valid.copy()
        self.stamp = stamp  # when last matched; `coords` are the pose then
        self.velocity = None  # (2,) px/s once measured
        self.hits = 1
        self.track_id = 0
        self.area = float(box_areas(coords[None], valid[None])[0])

    def predicted(self, stamp: float) -> np.ndarray:
        if self.velocity is None:
            return self.coords
        return self.coords + self.velocity * (stamp - self.stamp)

    def match(self, coords: np.ndarray, valid: np.ndarray, stamp: float, weight: float) -> None:
        elapsed = stamp - self.stamp
        common = valid & self.known
        if elapsed > 0 and common.any():
            measured = np.median(coords[common] - self.coords[common], axis=0) / elapsed
            self.velocity = measured if self.velocity is None else (
                (1.0 - weight) * self.velocity + weight * measured)
        predicted = self.predicted(stamp)
        self.coords = np.where(valid[:, None], coords, predicted)
        self.known |= valid
        self.stamp = stamp
        self.hits += 1
        self.area = max(float(box_areas(coords[None], valid[None])[0]), 0.0) or self.area


class PoseTracker:
    """Gives each pose of each frame a persistent id (0: not confirmed yet).

    `update(coords, scores, stamp)` takes a frame's poses in image pixels, (N, 17, 2) and
    (N, 17), with the frame's time in seconds, and returns (N,) int64 ids in the same order.
    """

    def __init__(self, config: TrackerConfig = TrackerConfig()):
        self.config = config.check()
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._last_stamp: float | None = None

    @property
    def ids_issued(self) -> int:
        """How many ids this tracker has given out (ids are 1..ids_issued)."""
        return self._next_id - 1

    @property
    def active_ids(self) -> list[int]:
        """Ids of the confirmed tracks currently kept (seen or coasting)."""
        return [track.track_id for track in self._tracks if track.track_id]

    def reset(self) -> None:
        """Forget every track (after a jump back in time); ids keep counting up."""
        self._tracks = []
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
        self._tracks = [track for track in self._tracks
                        if stamp - track.stamp <= self.config.max_age]
        valid = (scores >= self.config.min_keypoint_score) & np.isfinite(coords).all(axis=2)
        ids = np.zeros(coords.shape[0], dtype=np.int64)
        matched_tracks, matched_poses = self._associate(coords, valid, stamp)
        for t, p in zip(matched_tracks, matched_poses):
            track = self._tracks[t]
            track.match(coords[p], valid[p], stamp, self.config.velocity_smoothing)
            if not track.track_id and track.hits >= self.config.min_hits:
                track.track_id = self._issue_id()
            ids[p] = track.track_id
        matched = set(matched_tracks)
        kept = []
        for index, track in enumerate(self._tracks):
            if index in matched:
                kept.append(track)
            elif track.track_id:  # confirmed and unseen for at most max_age: coasting
                kept.append(track)
        unmatched_poses = sorted(set(range(coords.shape[0])) - set(matched_poses))
        for p in unmatched_poses:
            if not valid[p].any():
                continue
            track = _Track(coords[p], valid[p], stamp)
            if self.config.min_hits <= 1:
                track.track_id = self._issue_id()
                ids[p] = track.track_id
            kept.append(track)
        self._tracks = kept
        return ids

    def _issue_id(self) -> int:
        issued = self._next_id
        self._next_id += 1
        return issued

    def _associate(self, coords: np.ndarray, valid: np.ndarray, stamp: float
                   ) -> tuple[list[int], list[int]]:
        if not self._tracks or coords.shape[0] == 0:
            return [], []
        predicted = np.stack([track.predicted(stamp) for track in self._tracks])
        known = np.stack([track.known for track in self._tracks])
        areas = np.array([track.area for track in self._tracks])
        similarity = pose_similarity(predicted, known, areas, coords, valid,
                                     box_areas(coords, valid))
        rows, cols = linear_sum_assignment(similarity, maximize=True)
        keep = similarity[rows, cols] >= self.config.min_similarity
        return rows[keep].tolist(), cols[keep].tolist()
