"""
PoseArray built straight into the messages' slots equals the one built through their setters.

people_to_pose_array skips the generated constructors and checking setters when field checks are
off (ROS_PYTHON_CHECK_FIELDS unset); the messages must be the same, field for field.
"""
from __future__ import annotations

from builtin_interfaces.msg import Time
import numpy as np
from posenet_msgs.msg import PoseArray
from posenet_ros.engine.camera_model import CameraModel
from posenet_ros.engine.depth import people_in_3d
from posenet_ros.engine.people import PeopleFrame
from posenet_ros.ros import messages
from rclpy.serialization import deserialize_message, serialize_message
from std_msgs.msg import Header
from test_ros_messages import reference_results


def people_frames(reference_path):
    """Yield the original's poses on the smoke photos, placed in 3D on a made-up depth image."""
    rng = np.random.default_rng(0)
    for result in reference_results(reference_path):
        people = PeopleFrame.from_result(result)
        width, height = people.image_width, people.image_height
        camera = CameraModel.from_fields(width, height, [500, 0, width / 2, 0, 500, height / 2,
                                                         0, 0, 1], [0.1, -0.05, 0, 0, 0])
        depth = rng.integers(0, 6000, (height, width)).astype(np.uint16)
        placed = people_in_3d(depth, '16UC1', people.keypoint_coords,
                              people.keypoint_scores > 0.3, camera)
        people.keypoint_positions = placed.keypoints
        people.has_keypoint_position = placed.has_keypoint
        people.positions = placed.positions
        people.has_position = placed.has_position
        people.track_ids = rng.integers(0, 2**32, len(people), dtype=np.int64)
        yield people


def test_slots_and_setters_give_the_same_messages(reference_path):
    assert messages._FIELDS_IN_SLOTS, 'this ROS 2 should take the fast path'
    header = Header(stamp=Time(sec=1712345678, nanosec=5), frame_id='camera_optical_frame')
    poses = 0
    for people in people_frames(reference_path):
        fast = messages.people_to_pose_array(people, header)
        checked = messages.people_to_pose_array(people, header)
        columns = (people.scores.tolist(), people.track_ids.tolist(), people.positions.tolist(),
                   people.has_position.tolist(), people.keypoint_scores.tolist(),
                   people.keypoint_coords.tolist(), people.keypoint_positions.tolist(),
                   people.has_keypoint_position.tolist())
        checked.poses = messages._poses_through_setters(*columns)
        # repr shows every field, floats exactly and NaN too (serialised bytes are no good:
        # CDR's alignment padding is left uninitialised).
        assert repr(fast) == repr(checked)
        assert repr(deserialize_message(serialize_message(fast), PoseArray)) == repr(
            deserialize_message(serialize_message(checked), PoseArray))
        for built in fast.poses:
            assert not built._check_fields and not built.keypoints[0].position._check_fields
        poses += len(fast.poses)
    assert poses > 20 and any(not p.has_position for p in fast.poses)


def test_slot_built_messages_can_be_changed_afterwards(reference_path):
    """Their setters work (they read the _check_fields slot, which is filled in)."""
    people = next(people_frames(reference_path))
    pose, part = (int(i) for i in np.argwhere(~people.has_keypoint_position)[-1])
    fast = messages.people_to_pose_array(people, Header())
    checked = messages.people_to_pose_array(people, Header())
    checked.poses = messages._poses_through_setters(
        people.scores.tolist(), people.track_ids.tolist(), people.positions.tolist(),
        people.has_position.tolist(), people.keypoint_scores.tolist(),
        people.keypoint_coords.tolist(), people.keypoint_positions.tolist(),
        people.has_keypoint_position.tolist())
    for msg in (fast, checked):  # the same changes, through the setters, on both
        msg.poses[0].keypoints[3].x = 12.5
        msg.poses[0].id = 7
        missing = msg.poses[pose].keypoints[part]  # a keypoint placed later, e.g. by a consumer
        missing.position.z = 2.0
        missing.has_position = True
    # What a subscriber receives: the changes, and nothing else changed with them (no object
    # shared between keypoints or poses), as in the message built through the setters.
    received = deserialize_message(serialize_message(fast), PoseArray)
    assert (received.poses[0].keypoints[3].x, received.poses[0].id,
            received.poses[pose].keypoints[part].position.z,
            received.poses[pose].keypoints[part].has_position) == (12.5, 7, 2.0, True)
    assert repr(received) == repr(deserialize_message(serialize_message(checked), PoseArray))
