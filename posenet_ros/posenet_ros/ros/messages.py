"""The people of a frame -> posenet_msgs/PoseArray, built on every frame the node publishes."""
from __future__ import annotations

import math

from geometry_msgs.msg import Point
import numpy as np
from posenet_msgs.msg import Keypoint
from posenet_msgs.msg import Pose as PoseMsg
from posenet_msgs.msg import PoseArray
from posenet_ros.engine.parts import NUM_KEYPOINTS
from posenet_ros.engine.people import PeopleFrame
from posenet_ros.engine.types import EstimateResult

NAN = math.nan


def people_to_pose_array(people: PeopleFrame, header) -> PoseArray:
    """
    Return a PoseArray of `people`, stamped with the image's header.

    Every pose carries all 17 keypoints in part order (keypoints[i].part == i), its track id, and
    positions in metres where known; unknown positions are NaN with has_position false, so a
    consumer ignoring the flag cannot take zeros for a position. About 6 us per pose (the
    messages' constructors and checking setters cost about 40).
    """
    msg = PoseArray()
    msg.header = header
    msg.image_width = int(people.image_width)
    msg.image_height = int(people.image_height)
    columns = (  # Python floats, ints and bools, as the fields want
        people.scores.tolist(), people.track_ids.tolist(), people.positions.tolist(),
        people.has_position.tolist(), people.keypoint_scores.tolist(),
        people.keypoint_coords.tolist(), people.keypoint_positions.tolist(),
        people.has_keypoint_position.tolist())
    if _FIELDS_IN_SLOTS and not getattr(msg, '_check_fields', False):
        msg.poses = _poses_in_slots(*columns)
    else:
        msg.poses = _poses_through_setters(*columns)
    return msg


def _poses_through_setters(scores, ids, centres, has_centres, keypoint_scores, coords,
                           positions, has_positions) -> list:
    poses = []
    for index in range(len(scores)):
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
    return poses


def _poses_in_slots(scores, ids, centres, has_centres, keypoint_scores, coords, positions,
                    has_positions) -> list:
    """
    Return the same messages as `_poses_through_setters`, written straight into their slots.

    A Pose's constructor builds 17 Keypoints and 18 Points through Python setters (about 30 us);
    used only with field checks off, for the generated layout `_FIELDS_IN_SLOTS` confirmed.
    """
    new_pose, new_keypoint, new_point = PoseMsg.__new__, Keypoint.__new__, Point.__new__
    poses = []
    for score, track_id, centre, has_centre, part_scores, part_coords, part_positions, \
            part_has in zip(scores, ids, centres, has_centres, keypoint_scores, coords, positions,
                            has_positions):
        keypoints = []
        for part, (part_score, (x, y), position, has) in enumerate(
                zip(part_scores, part_coords, part_positions, part_has)):
            point = new_point(Point)
            point._check_fields = False
            point._x, point._y, point._z = position if has else _NO_POINT
            keypoint = new_keypoint(Keypoint)
            keypoint._check_fields = False
            keypoint._part, keypoint._score, keypoint._x, keypoint._y = part, part_score, x, y
            keypoint._position, keypoint._has_position = point, has
            keypoints.append(keypoint)
        point = new_point(Point)
        point._check_fields = False
        point._x, point._y, point._z = centre if has_centre else _NO_POINT
        pose = new_pose(PoseMsg)
        pose._check_fields = False
        pose._score, pose._keypoints, pose._id = score, keypoints, track_id
        pose._position, pose._has_position = point, has_centre
        poses.append(pose)
    return poses


def _fields_in_slots() -> bool:
    """
    Return whether the generated classes keep exactly the fields filled here in _name slots.

    Also whether they know ROS_PYTHON_CHECK_FIELDS (a '_check_fields' slot); otherwise (another
    ROS 2, another layout) messages are built through the setters.
    """
    expected = {PoseMsg: ('score', 'keypoints', 'id', 'position', 'has_position'),
                Keypoint: ('part', 'score', 'x', 'y', 'position', 'has_position'),
                Point: ('x', 'y', 'z')}
    return all(tuple(cls.get_fields_and_field_types()) == fields
               and set(cls.__slots__) == {'_' + name for name in fields + ('check_fields',)}
               for cls, fields in expected.items())


_FIELDS_IN_SLOTS = _fields_in_slots()
_NO_POINT = (NAN, NAN, NAN)


def to_pose_array(result: EstimateResult, header, min_pose_score: float = 0.0) -> PoseArray:
    """
    Return the poses of `result` scoring at least `min_pose_score` as a PoseArray.

    In source-image pixels and the decoder's order, without 3D or track ids.
    """
    return people_to_pose_array(PeopleFrame.from_result(result, min_pose_score), header)


def pose_array_to_people(msg) -> PeopleFrame:
    """
    Return the people of a PoseArray as arrays: the inverse of `people_to_pose_array`.

    For a Python consumer that computes on the poses. Raises ValueError if a pose's keypoints
    are not in part order (keypoints[i].part == i), as posenet_node publishes them.
    """
    poses = msg.poses
    count = len(poses)
    keypoint_rows = [[(k.part, k.score, k.x, k.y, k.has_position, k.position.x, k.position.y,
                       k.position.z) for k in pose.keypoints] for pose in poses]
    keypoints = np.array(keypoint_rows, dtype=np.float64).reshape(count, NUM_KEYPOINTS, 8)
    if (keypoints[..., 0] != np.arange(NUM_KEYPOINTS)).any():
        raise ValueError('the keypoints are not in part order (keypoints[i].part == i), as '
                         'posenet_node publishes them')
    centres = np.array([(p.score, p.id, p.has_position, p.position.x, p.position.y,
                         p.position.z) for p in poses], dtype=np.float64).reshape(count, 6)
    return PeopleFrame(
        image_width=int(msg.image_width), image_height=int(msg.image_height),
        scores=centres[:, 0], keypoint_scores=keypoints[..., 1],
        keypoint_coords=keypoints[..., 2:4], keypoint_positions=keypoints[..., 5:8],
        has_keypoint_position=keypoints[..., 4] != 0, positions=centres[:, 3:6],
        has_position=centres[:, 2] != 0, track_ids=centres[:, 1].astype(np.int64))


def _set_point(point, values, valid: bool) -> None:
    if valid:
        point.x, point.y, point.z = values
    else:
        point.x = point.y = point.z = NAN
