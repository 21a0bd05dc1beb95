"""
Stage: positions moved into `target_frame` with tf2, at the image's stamp.

Needs tf2_ros (every ROS 2 install has it; the PyPI wheels do not, and there the parameter is
refused with the reason, see parameters.py). With target_frame set, the PoseArray's
header.frame_id names it on every frame, so a consumer (and the metre smoother) never sees the
frame change: when the transform is missing the poses go out without positions rather than with
positions in another frame. Pixels still refer to the camera image.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from posenet_ros.ros.pipeline import Frame
from scipy.spatial.transform import Rotation

LOOKUP_TIMEOUT_S = 0.05


def transform_points(points: np.ndarray, rotation: np.ndarray,
                     translation: np.ndarray) -> np.ndarray:
    """(..., 3) points moved by `rotation` then `translation`; NaN stays NaN."""
    return points @ rotation.T + translation


class TransformStage:
    """Looks the camera frame up in tf2 and moves every position into the target frame."""

    def __init__(self, node, log_warning: Callable[[str], object]):
        import tf2_ros  # only where installed: the parameter is refused otherwise
        from rclpy.duration import Duration
        self._buffer = tf2_ros.Buffer()
        self._listener = tf2_ros.TransformListener(self._buffer, node)
        self._timeout = Duration(seconds=LOOKUP_TIMEOUT_S)
        self._log_warning = log_warning
        # Lookup, connectivity, extrapolation, timeout, an invalid frame id: all tf2's own.
        self._errors = tf2_ros.TransformException

    def close(self) -> None:
        """Drop the /tf and /tf_static subscriptions (the node deactivates)."""
        self._listener.unregister()

    def __call__(self, frame: Frame) -> None:
        target = frame.settings.target_frame
        if not target:
            return
        frame.frame_id = target
        people = frame.people
        if not (people.has_keypoint_position.any() or people.has_position.any()):
            return
        from rclpy.time import Time
        header = frame.header
        try:
            transform = self._buffer.lookup_transform(
                target, header.frame_id, Time.from_msg(header.stamp), self._timeout)
        except self._errors as error:
            self._log_warning(f'poses go out without positions: no transform from '
                              f'{header.frame_id!r} to {target!r} at the image stamp '
                              f'({type(error).__name__}: {error})')
            people.keypoint_positions[:] = np.nan
            people.has_keypoint_position[:] = False
            people.positions[:] = np.nan
            people.has_position[:] = False
            return
        rotation = transform.transform.rotation
        shift = transform.transform.translation
        matrix = Rotation.from_quat([rotation.x, rotation.y, rotation.z, rotation.w]).as_matrix()
        offset = np.array([shift.x, shift.y, shift.z])
        people.keypoint_positions = transform_points(people.keypoint_positions, matrix, offset)
        people.positions = transform_points(people.positions, matrix, offset)
