"""The people of a frame -> posenet_msgs/PoseArray, built on every frame the node publishes."""
from __future__ import annotations

import math

from posenet_msgs.msg import Pose as PoseMsg
from posenet_msgs.msg import PoseArray
from posenet_ros.engine.people import PeopleFrame
from posenet_ros.engine.types import EstimateResult

NAN = math.nan


def people_to_pose_array(people: PeopleFrame, header) -> PoseArray:
    """
    Return a PoseArray of `people`, stamped with the image's header.

    Every pose carries all 17 keypoints in part order (keypoints[i].part == i), its track id, and
    positions in metres where known; unknown positions are NaN with has_position false, so a
    consumer ignoring the flag cannot take zeros for a position. About 20 us per pose.
    """
    msg = PoseArray()
    msg.header = header
    msg.image_width = int(people.image_width)
    msg.image_height = int(people.image_height)
    scores = people.scores.tolist()
    keypoint_scores = people.keypoint_scores.tolist()
    coords = people.keypoint_coords.tolist()  # Python floats, as the fields want
    positions = people.keypoint_positions.tolist()
    has_positions = people.has_keypoint_position.tolist()
    centres = people.positions.tolist()
    has_centres = people.has_position.tolist()
    ids = people.track_ids.tolist()
    poses = []
    for index in range(len(people)):
        pose = PoseMsg()  # already holds 17 default Keypoints: fill them in place
        pose.score = scores[index]
        pose.id = int(ids[index])
        _set_point(pose.position, centres[index], has_centres[index])
        pose.has_position = bool(has_centres[index])
        for part, keypoint in enumerate(pose.keypoints):
            keypoint.part = part
            keypoint.score = keypoint_scores[index][part]
            keypoint.x, keypoint.y = coords[index][part]
            has = bool(has_positions[index][part])
            _set_point(keypoint.position, positions[index][part], has)
            keypoint.has_position = has
        poses.append(pose)
    msg.poses = poses
    return msg


def to_pose_array(result: EstimateResult, header, min_pose_score: float = 0.0) -> PoseArray:
    """
    Return the poses of `result` scoring at least `min_pose_score` as a PoseArray.

    In source-image pixels and the decoder's order, without 3D or track ids.
    """
    return people_to_pose_array(PeopleFrame.from_result(result, min_pose_score), header)


def _set_point(point, values, valid: bool) -> None:
    if valid:
        point.x, point.y, point.z = values
    else:
        point.x = point.y = point.z = NAN
