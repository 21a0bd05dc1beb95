"""
Stage: One-Euro smoothing of every tracked person's keypoints, in pixels and in metres.

Only tracked people (id > 0) are smoothed, each with filter states of its own: tracks never mix,
and a new track starts fresh. Time from the image stamps. With tracking off there is nothing to
smooth. In metres, each person's position is smoothed with their keypoints; a frame without
positions leaves those filters as they are, and they start afresh when the frame the positions
are given in changes (`target_frame`): a filter never blends two frames' coordinates.
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
        back_in_time = self._last_stamp is not None and stamp < self._last_stamp
        self._last_stamp = stamp
        if self._pixels is None or self._pixels.config != settings.pixel_smoothing or back_in_time:
            self._pixels = OneEuroSmoother(settings.pixel_smoothing)
        in_metres = people.has_keypoint_position.any() or people.has_position.any()
        if in_metres:  # a frame without positions leaves the metre filters as they are
            positions_frame = frame.frame_id or frame.header.frame_id
            if self._metres is None or self._metres.config != settings.metric_smoothing or (
                    back_in_time or positions_frame != self._metres_frame):
                self._metres = OneEuroSmoother(settings.metric_smoothing)
                self._metres_frame = positions_frame
        ids = people.track_ids
        tracked = ids > 0
        if not tracked.any():
            return
        # Keypoints PoseNet is unsure of do not feed the filters and keep their raw pixels.
        valid = people.keypoint_scores >= settings.min_keypoint_score
        smoothed = self._pixels.smooth(ids, people.keypoint_coords, valid, stamp)
        people.keypoint_coords = np.where(
            tracked[:, None, None] & np.isfinite(smoothed), smoothed, people.keypoint_coords)
        if in_metres:
            # The person's position is filtered beside their keypoints, as an 18th point.
            points = np.concatenate([people.keypoint_positions, people.positions[:, None]], axis=1)
            known = np.concatenate([people.has_keypoint_position, people.has_position[:, None]],
                                   axis=1)
            smoothed = self._metres.smooth(ids, points, known, stamp)
            points = np.where(tracked[:, None, None], smoothed, points)
            people.keypoint_positions, people.positions = points[:, :-1], points[:, -1]
            people.has_keypoint_position = all_finite(people.keypoint_positions)
            people.has_position = all_finite(people.positions)
