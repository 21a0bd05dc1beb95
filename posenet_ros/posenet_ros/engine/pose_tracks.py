"""
Track ids (and optionally One-Euro smoothed keypoints) for the estimator's poses, per frame.

The glue between `PoseEstimator` results and `tracking.PoseTracker` / `smoothing.OneEuroSmoother`
for callers that hold `Pose` lists: `posenet-estimate --track/--smooth`, and the node's pipeline.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .parts import NUM_KEYPOINTS
from .smoothing import OneEuroConfig, OneEuroSmoother, PIXEL_DEFAULTS
from .tracking import PoseTracker, TrackerConfig
from .types import Pose


class PoseTracks:
    """
    Persistent ids for the poses of consecutive frames of one camera or video.

    update(poses, stamp) returns the track id of each pose (0: not tracked yet) and the poses,
    with their keypoints smoothed when `smoothing` is given (keypoints scoring below
    `min_keypoint_score` keep their raw position and do not feed the filter).
    """

    def __init__(self, tracker: TrackerConfig = TrackerConfig(),
                 smoothing: OneEuroConfig | None = None, min_keypoint_score: float = 0.2):
        self._tracker = PoseTracker(tracker)
        self._smoother = OneEuroSmoother(smoothing) if smoothing is not None else None
        self._min_keypoint_score = float(min_keypoint_score)

    @classmethod
    def with_default_smoothing(cls, tracker: TrackerConfig = TrackerConfig()) -> 'PoseTracks':
        return cls(tracker, PIXEL_DEFAULTS)

    def reset(self) -> None:
        """Start over (a new video, a jump back in time); ids keep counting up."""
        self._tracker.reset()
        if self._smoother is not None:
            self._smoother.reset()

    def update(self, poses: list[Pose], stamp: float) -> tuple[np.ndarray, list[Pose]]:
        coords = np.array([p.keypoint_coords for p in poses], dtype=np.float64).reshape(
            -1, NUM_KEYPOINTS, 2)
        scores = np.array([p.keypoint_scores for p in poses], dtype=np.float64).reshape(
            -1, NUM_KEYPOINTS)
        ids = self._tracker.update(coords, scores, stamp)
        if self._smoother is None:
            return ids, list(poses)
        valid = scores >= self._min_keypoint_score
        smoothed = self._smoother.smooth(ids, coords, valid, stamp)
        smoothed = np.where(np.isfinite(smoothed), smoothed, coords)
        return ids, [replace(pose, keypoint_coords=smoothed[i]) for i, pose in enumerate(poses)]
