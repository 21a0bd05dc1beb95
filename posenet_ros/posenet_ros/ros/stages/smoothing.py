"""
Stage: One-Euro smoothing of every tracked person's keypoints, in pixels and in metres.

Only tracked people (id > 0) are smoothed, each with filter states of its own: tracks never mix,
and a new track starts fresh. Time from the image stamps. With tracking off there is nothing to
smooth. Positions start afresh when the frame they are given in changes (`target_frame`): a
filter never blends two frames' coordinates.
"""
from __future__ import annotations

import numpy as np
from posenet_ros.engine.array_ops import all_finite
from posenet_ros.engine.smoothing import OneEuroSmoother
from posenet_ros.ros.pipeline import Frame


class SmoothingStage:
    """Smooths `frame.people` in place when the `smoothing` parameter is on."""

    optional = True  # poses go out unsmoothed if this fails (pipeline.py)

    def __init__(self):
        self._pixels: OneEuroSmoother | None = None
        self._metres: OneEuroSmoother | None = None
        self._metres_frame: str | None = None  # the frame the positions are filtered in
        self._last_stamp: float | None = None

    def __call__(self, frame: Frame) -> None:
        settings = frame.settings
        people = frame.people
        if not (settings.smoothing and settings.tracking) or not len(people):
            return
        stamp = frame.stamp_s
        if self._pixels is None or self._pixels.config != settings.pixel_smoothing or (
                self._last_stamp is not None and stamp < self._last_stamp):
            self._pixels = OneEuroSmoother(settings.pixel_smoothing)
        positions_frame = frame.frame_id or frame.header.frame_id
        if self._metres is None or self._metres.config != settings.metric_smoothing or (
                self._last_stamp is not None and stamp < self._last_stamp) or (
                positions_frame != self._metres_frame):
            self._metres = OneEuroSmoother(settings.metric_smoothing)
            self._metres_frame = positions_frame
        self._last_stamp = stamp
        ids = people.track_ids
        tracked = ids > 0
        if not tracked.any():
            return
        # Keypoints PoseNet is unsure of do not feed the filters and keep their raw pixels.
        valid = people.keypoint_scores >= settings.min_keypoint_score
        smoothed = self._pixels.smooth(ids, people.keypoint_coords, valid, stamp)
        people.keypoint_coords = np.where(
            tracked[:, None, None] & np.isfinite(smoothed), smoothed, people.keypoint_coords)
        if people.has_keypoint_position.any():
            smoothed = self._metres.smooth(ids, people.keypoint_positions,
                                           people.has_keypoint_position, stamp)
            people.keypoint_positions = np.where(tracked[:, None, None], smoothed,
                                                 people.keypoint_positions)
            people.has_keypoint_position = all_finite(people.keypoint_positions)
