"""EstimateResult -> posenet_msgs/PoseArray, built on every frame the node publishes."""
from __future__ import annotations

import numpy as np

from posenet_msgs.msg import Pose as PoseMsg
from posenet_msgs.msg import PoseArray

from posenet_ros.engine.parts import NUM_KEYPOINTS
from posenet_ros.engine.types import EstimateResult


def to_pose_array(result: EstimateResult, header, min_pose_score: float = 0.0) -> PoseArray:
    """The poses of `result` (source-image pixels) as a PoseArray stamped with the image's header.

    Poses keep the decoder's order; those scoring below `min_pose_score` are left out. Every pose
    carries all 17 keypoints in part order (keypoints[i].part == i). About 15 us per pose.
    """
    msg = PoseArray()
    msg.header = header
    msg.image_width = int(result.image_width)
    msg.image_height = int(result.image_height)
    poses = []
    for pose in result.poses:
        score = float(pose.score)
        if score < min_pose_score:
            continue
        scores = np.asarray(pose.keypoint_scores, dtype=np.float64)
        coords = np.asarray(pose.keypoint_coords, dtype=np.float64)
        if scores.shape != (NUM_KEYPOINTS,) or coords.shape != (NUM_KEYPOINTS, 2):
            raise ValueError(
                f'a pose has keypoint_scores of shape {scores.shape} and keypoint_coords of shape '
                f'{coords.shape}; PoseArray needs ({NUM_KEYPOINTS},) and ({NUM_KEYPOINTS}, 2)')
        scores, coords = scores.tolist(), coords.tolist()  # Python floats, as the fields want
        pose_msg = PoseMsg()  # already holds 17 default Keypoints: fill them in place
        pose_msg.score = score
        for part, keypoint in enumerate(pose_msg.keypoints):
            keypoint.part = part
            keypoint.score = scores[part]
            keypoint.x, keypoint.y = coords[part]
        poses.append(pose_msg)
    msg.poses = poses
    return msg
