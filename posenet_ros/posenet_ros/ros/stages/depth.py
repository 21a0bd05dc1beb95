"""
Stage: people in metres (`frame.people` positions) from the registered depth frame.

For each colour frame the depth frame nearest in stamp within `depth_max_delay` is used; without
one (or without camera_info) the poses go out without positions and the reason is counted for
/diagnostics and logged once per cause and period. The math is the engine's (`engine.depth`,
`engine.camera_model`).
"""
from __future__ import annotations

import threading
from typing import Callable

from posenet_ros.engine.depth import people_in_3d
from posenet_ros.engine.postprocess import mirror_x
from posenet_ros.ros.depth_input import depth_image_array, DepthInput, DepthUnavailable, stamp_ns
from posenet_ros.ros.pipeline import Frame


class DepthCounts:
    """Frames with and without 3D since the last `take`, and the last reason for none."""

    def __init__(self):
        self._lock = threading.Lock()
        self.with_3d = self.without = 0
        self.reason = ''

    def add(self, ok: bool, reason: str = '') -> None:
        with self._lock:
            if ok:
                self.with_3d += 1
            else:
                self.without += 1
                self.reason = reason

    def take(self) -> tuple[int, int, str]:
        with self._lock:
            counts = (self.with_3d, self.without, self.reason if self.without else '')
            self.with_3d = self.without = 0
            return counts


class DepthStage:
    """Fills keypoint and person positions from `depth_input` for the frame's people."""

    optional = True  # poses go out without positions if this fails (pipeline.py)

    def __init__(self, depth_input: DepthInput, log_warning: Callable[[str], object]):
        self._input = depth_input
        self._log_warning = log_warning
        self.counts = DepthCounts()

    def __call__(self, frame: Frame) -> None:
        people = frame.people
        settings = frame.settings
        try:
            # '' skips the check: depth registered under another frame's name.
            colour_frame = frame.header.frame_id if settings.depth_same_frame else ''
            camera = self._input.camera(colour_frame)
            depth_message = self._input.nearest(stamp_ns(frame.header), settings.depth_max_delay,
                                                colour_frame)
            depth = depth_image_array(depth_message)
        except DepthUnavailable as reason:
            self.counts.add(False, str(reason))
            self._log_warning(f'poses without positions: {reason}')
            return
        if len(people):
            measured = people.keypoint_scores >= settings.min_keypoint_score
            pixels = people.keypoint_coords  # mirrored with flip_horizontal; the depth is not
            if settings.config.flip_horizontal:
                pixels = mirror_x(pixels, people.image_width)
            placed = people_in_3d(depth, depth_message.encoding.strip(), pixels,
                                  measured, camera, rectified=settings.image_rectified,
                                  config=settings.depth,
                                  image_size=(people.image_width, people.image_height))
            people.keypoint_positions = placed.keypoints
            people.has_keypoint_position = placed.has_keypoint
            people.positions = placed.positions
            people.has_position = placed.has_position
        self.counts.add(True)
