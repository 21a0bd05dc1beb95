"""EstimateResult -> posenet_msgs/PoseArray, with the original PoseNet's poses on photos."""
from __future__ import annotations

import json
import sys
import timeit

from builtin_interfaces.msg import Time
import numpy as np
from posenet_msgs.msg import Keypoint, PoseArray
from posenet_ros.engine.types import EstimateResult, Pose
from posenet_ros.ros.messages import to_pose_array
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from std_msgs.msg import Header

REFERENCE = 'smoke/mobilenet_quant2_075_s16_r353x481_multi_demo.json'


def reference_results(reference_path) -> list[EstimateResult]:
    """
    Return the original's multi-pose results on the smoke photos.

    As the estimator would return them.
    """
    document = json.loads((reference_path / REFERENCE).read_text())
    results = []
    for record in document['results']:
        poses = [Pose(score=pose['score'],
                      keypoint_scores=np.array([k['score'] for k in pose['keypoints']]),
                      keypoint_coords=np.array([[k['x'], k['y']] for k in pose['keypoints']]))
                 for pose in record['poses']]
        results.append(EstimateResult(poses=poses, image_height=record['height'],
                                      image_width=record['width'], input_height=353,
                                      input_width=481, output_stride=16))
    return results


@pytest.fixture(scope='module')
def results(reference_path):
    return reference_results(reference_path)


def camera_header() -> Header:
    return Header(stamp=Time(sec=1712345678, nanosec=123456789), frame_id='camera_optical_frame')


def assert_pose_matches(pose_msg, pose: Pose) -> None:
    assert pose_msg.score == pytest.approx(pose.score, rel=1e-6)
    assert len(pose_msg.keypoints) == 17
    assert [k.part for k in pose_msg.keypoints] == list(range(17))
    assert Keypoint.NOSE == 0 and Keypoint.RIGHT_ANKLE == 16
    got = np.array([[k.score, k.x, k.y] for k in pose_msg.keypoints])
    want = np.column_stack([pose.keypoint_scores, pose.keypoint_coords])
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_every_pose_is_carried_over_in_order(results):
    for result in results:
        msg = to_pose_array(result, camera_header())
        assert isinstance(msg, PoseArray)
        assert msg.header.frame_id == 'camera_optical_frame'
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (1712345678, 123456789)
        assert (msg.image_width, msg.image_height) == (result.image_width, result.image_height)
        assert len(msg.poses) == len(result.poses)
        for pose_msg, pose in zip(msg.poses, result.poses):
            assert_pose_matches(pose_msg, pose)


@pytest.mark.parametrize('threshold', [0.05, 0.5, 0.7])
def test_min_pose_score_leaves_out_weak_poses(results, threshold):
    for result in results:
        kept = [pose for pose in result.poses if pose.score >= threshold]
        msg = to_pose_array(result, camera_header(), min_pose_score=threshold)
        assert len(msg.poses) == len(kept)
        for pose_msg, pose in zip(msg.poses, kept):
            assert_pose_matches(pose_msg, pose)
    assert any(0 < len([p for p in r.poses if p.score >= threshold]) < len(r.poses)
               for r in results), "the threshold should split some image's poses"


def test_no_poses_gives_an_empty_array():
    result = EstimateResult(poses=[], image_height=480, image_width=640, input_height=257,
                            input_width=257, output_stride=16)
    msg = to_pose_array(result, camera_header())
    assert msg.poses == [] and (msg.image_width, msg.image_height) == (640, 480)


def test_message_serializes_and_passes_field_checks(results, monkeypatch):
    """The fields have the exact Python types rclpy wants, even with ROS_PYTHON_CHECK_FIELDS=1."""
    for module in ('_keypoint', '_pose', '_pose_array'):
        monkeypatch.setattr(sys.modules[f'posenet_msgs.msg.{module}'], 'ros_python_check_fields',
                            '1')
    result = max(results, key=lambda r: len(r.poses))
    msg = to_pose_array(result, camera_header())
    assert msg.poses[0]._check_fields and msg.poses[0].keypoints[0]._check_fields
    back = deserialize_message(serialize_message(msg), PoseArray)
    assert back.header.frame_id == 'camera_optical_frame' and len(back.poses) == len(result.poses)
    for pose_msg, pose in zip(back.poses, result.poses):
        assert_pose_matches(pose_msg, pose)


def test_malformed_pose_is_refused():
    bad = Pose(score=0.9, keypoint_scores=np.ones(16), keypoint_coords=np.ones((16, 2)))
    result = EstimateResult(poses=[bad], image_height=10, image_width=10, input_height=257,
                            input_width=257, output_stride=16)
    with pytest.raises(ValueError, match=r'keypoint_scores of shape \(16,\)'):
        to_pose_array(result, camera_header())


def test_building_ten_poses_is_cheap(results):
    """Prints the cost of one PoseArray of 10 poses (no timing assertion: shared machines vary)."""
    result = next(r for r in results if len(r.poses) == 10)
    header = camera_header()
    runs = 200
    seconds = min(timeit.repeat(lambda: to_pose_array(result, header), number=runs, repeat=3))
    print(f'\nto_pose_array, 10 poses: {seconds / runs * 1e3:.3f} ms')
    assert len(to_pose_array(result, header).poses) == 10
