"""
`target_frame`: people's positions given in another frame than the camera's, with tf2.

Where tf2_ros is installed (every ROS 2 install) a static transform from `base_link` to the
camera's optical frame is published and the positions must come out in `base_link`: moved back
into the camera frame they lie at the person's known distance and image to their pixels. Where it
is not (the PyPI wheels of this machine), the parameter must be refused with the reason: the
node does not start, in one line saying why.
"""
from __future__ import annotations

import importlib.util

from node_support import DomainClaim, NodeProcess, PoseNetClient
import numpy as np
from posenet_ros.engine.camera_model import CameraModel
from posenet_ros.ros.image_conversion import rgb_to_image_msg
import pytest
from rgbd_support import camera_info, depth_message, REALSENSE, RealSense
from scipy.spatial.transform import Rotation
from synthetic_people import depth_scene

pytestmark = pytest.mark.dds

MODEL = 'mobilenet_quant2_075'
PHOTO_ID = 5802  # one person, 640x479
OPTICAL_FRAME = 'camera_color_optical_frame'
HAVE_TF2 = importlib.util.find_spec('tf2_ros') is not None
# base_link -> optical frame as on a robot: camera 1.2 m up, 0.1 m forward, looking ahead (the
# optical frame's z forward is base_link's x), tilted 10 degrees down.
CAMERA_IN_BASE = Rotation.from_euler('xyz', [-90.0, 0.0, -90.0], degrees=True)
CAMERA_IN_BASE = Rotation.from_euler('y', 10.0, degrees=True) * CAMERA_IN_BASE
CAMERA_POSITION = np.array([0.1, 0.0, 1.2])


@pytest.fixture
def node_with_target_frame(models_path, tmp_path):
    claim = DomainClaim('target_frame')
    node = NodeProcess(claim.domain_id, {'model': str(models_path / MODEL), 'use_depth': True,
                                         'target_frame': 'base_link', 'min_pose_score': 0.3},
                       tmp_path / 'node.log', remaps=REALSENSE)
    client = PoseNetClient(claim.domain_id)
    try:
        yield node, client
    finally:
        client.close()
        node.interrupt()
        claim.release()


@pytest.mark.skipif(HAVE_TF2, reason='tf2_ros is installed here: target_frame is accepted')
def test_target_frame_is_refused_with_the_reason_where_tf2_ros_is_missing(
        node_with_target_frame):
    node, client = node_with_target_frame
    node.process.wait(60.0)
    # A read-only parameter the node cannot honour: it does not start, and says why in one line.
    assert node.process.returncode == 1
    log = node.log()
    assert "cannot start: target_frame 'base_link' needs tf2_ros" in log, log
    assert 'leave target_frame empty' in log and 'Traceback' not in log


@pytest.mark.skipif(not HAVE_TF2, reason='tf2_ros is not installed here (it is built on C++ and '
                    'not among the PyPI wheels); runs on a ROS 2 install')
def test_positions_come_out_in_target_frame(node_with_target_frame, data_path):
    from geometry_msgs.msg import TransformStamped
    import tf2_ros
    node, client = node_with_target_frame
    transform = TransformStamped()
    transform.header.frame_id, transform.child_frame_id = 'base_link', OPTICAL_FRAME
    transform.header.stamp = client.node.get_clock().now().to_msg()
    (transform.transform.translation.x, transform.transform.translation.y,
     transform.transform.translation.z) = CAMERA_POSITION
    (transform.transform.rotation.x, transform.transform.rotation.y,
     transform.transform.rotation.z, transform.transform.rotation.w) = CAMERA_IN_BASE.as_quat()
    broadcaster = tf2_ros.StaticTransformBroadcaster(client.node)
    broadcaster.sendTransform(transform)

    scene = depth_scene(data_path, PHOTO_ID, np.random.default_rng(4))
    height, width = scene.image.shape[:2]
    info = camera_info(width, height, 'plumb_bob', [0.0] * 5)
    info.header.frame_id = OPTICAL_FRAME
    model = CameraModel.from_fields(width, height, list(info.k), list(info.d),
                                    info.distortion_model)
    camera = RealSense(client)
    colour, depth = rgb_to_image_msg(scene.image), depth_message(scene.depth, '16UC1')
    for _ in range(10):  # until depth, camera info and the transform have all arrived
        answer = camera.exchange(colour, depth, info, frame_id=OPTICAL_FRAME)
        if any(k.has_position for pose in answer.poses for k in pose.keypoints):
            break
    assert answer.header.frame_id == 'base_link'
    checked = 0
    for pose in answer.poses:
        for keypoint in pose.keypoints:
            if not keypoint.has_position:
                continue
            in_base = np.array([keypoint.position.x, keypoint.position.y, keypoint.position.z])
            in_camera = CAMERA_IN_BASE.inv().apply(in_base - CAMERA_POSITION)
            np.testing.assert_allclose(model.project(in_camera), (keypoint.x, keypoint.y),
                                       atol=0.05)
            assert in_camera[2] < scene.background * 0.9
            checked += 1
        assert pose.has_position and pose.position.x > 0.5  # in front of the robot, in base_link
    assert checked >= 8
    # A frame without depth (none within depth_max_delay) still names target_frame: a consumer
    # never sees the frame change from one message to the next.
    stale = camera.exchange(colour, None, info, frame_id=OPTICAL_FRAME)
    assert stale.poses and not any(pose.has_position for pose in stale.poses)
    assert stale.header.frame_id == 'base_link'
    assert 'Traceback' not in node.log()
