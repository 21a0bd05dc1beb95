"""
People in 3D, tracked, through posenet_node over DDS, with a camera published as a RealSense's.

A COCO photo with a synthetic registered depth image of known truth (each person at a known
distance, the background farther, holes and noise: synthetic_people.depth_scene) and a
CameraInfo of known intrinsics go out on the three topics a RealSense publishes
(`/camera/color/image_raw`, `/camera/aligned_depth_to_color/image_raw`,
`/camera/color/camera_info`), remapped onto the node's `image`, `depth/image`, `camera_info`.
"""
from __future__ import annotations

import math
import re

from diagnostic_msgs.msg import DiagnosticStatus
from node_support import diagnostic_values, DomainClaim, NodeProcess, PoseNetClient
import numpy as np
from posenet_ros.engine.camera_model import CameraModel
from posenet_ros.ros.image_conversion import rgb_to_image_msg
import pytest
from rgbd_support import CAMERA_FRAME, camera_info, depth_message, REALSENSE, RealSense
from synthetic_people import depth_scene, HOLE, NO_PERSON

pytestmark = pytest.mark.dds

MODEL = 'mobilenet_quant2_075'
PHOTO_ID = 5802  # one person, 640x479
CASES = {
    # depth at the colour resolution in millimetres, no distortion
    'same size, 16UC1': {'scale': 1.0, 'encoding': '16UC1', 'model': 'plumb_bob', 'd': [0.0] * 5},
    # depth at half the resolution in metres, a distorting lens
    'half size, 32FC1, plumb_bob': {'scale': 0.5, 'encoding': '32FC1', 'model': 'plumb_bob',
                                    'd': [-0.12, 0.05, 0.001, -0.0008, 0.0]},
    # the photo is a window (CameraInfo's roi) of a larger sensor, off its centre
    'roi of a larger sensor': {'scale': 1.0, 'encoding': '16UC1', 'model': 'plumb_bob',
                               'd': [-0.12, 0.05, 0.001, -0.0008, 0.0], 'roi': (100, 40)},
}


@pytest.fixture(scope='module')
def ros(models_path, tmp_path_factory):
    claim = DomainClaim('people3d')
    node = NodeProcess(claim.domain_id, {'model': str(models_path / MODEL), 'use_depth': True,
                                         'min_pose_score': 0.3, 'diagnostics_input_timeout': 5.0},
                       tmp_path_factory.mktemp('node') / 'people.log', remaps=REALSENSE)
    client = PoseNetClient(claim.domain_id)
    try:
        yield node, client, RealSense(client)
    finally:
        client.close()
        node.interrupt()
        claim.release()


def stamp_of(message) -> tuple[int, int]:
    return message.header.stamp.sec, message.header.stamp.nanosec


def owner_of(scene, pose_pixels: np.ndarray, shown: np.ndarray) -> int:
    height, width = scene.labels.shape
    rounded = np.clip(np.floor(pose_pixels + 0.5).astype(int), 0, [width - 1, height - 1])
    labels = scene.labels[rounded[:, 1], rounded[:, 0]]
    mine = labels[shown & (labels >= 0)]
    return int(np.bincount(mine).argmax()) if mine.size else -1


@pytest.mark.parametrize('case', list(CASES))
def test_keypoints_in_metres_at_their_persons_distance_and_on_the_camera_ray(
        ros, data_path, case):
    node, client, camera = ros
    spec = CASES[case]
    scene0 = depth_scene(data_path, PHOTO_ID, np.random.default_rng(1))
    height, width = scene0.image.shape[:2]
    depth_size = (round(width * spec['scale']), round(height * spec['scale']))
    scene = depth_scene(data_path, PHOTO_ID, np.random.default_rng(1), depth_size=depth_size,
                        encoding=spec['encoding'])
    offset = np.array(spec.get('roi', (0, 0)))
    sensor = (width + 160, height + 120) if 'roi' in spec else (width, height)
    info = camera_info(*sensor, spec['model'], spec['d'])
    if 'roi' in spec:
        info.roi.x_offset, info.roi.y_offset = (int(v) for v in offset)
        info.roi.width, info.roi.height = width, height
    # The whole sensor's model: a point images at the photo's pixel + the window's offset.
    model = CameraModel.from_fields(*sensor, list(info.k), list(info.d), info.distortion_model)
    colour, depth = rgb_to_image_msg(scene.image), depth_message(scene.depth, spec['encoding'])
    for _ in range(10):  # the first frames may come before the depth and info publishers match
        answer = camera.exchange(colour, depth, info)
        if any(k.has_position for pose in answer.poses for k in pose.keypoints):
            break
    assert answer.poses, 'the person was not found'
    on_person = reported = 0
    for pose in answer.poses:
        pixels = np.array([(k.x, k.y) for k in pose.keypoints])
        has = np.array([k.has_position for k in pose.keypoints])
        points = np.array([(k.position.x, k.position.y, k.position.z) for k in pose.keypoints])
        assert np.isnan(points[~has]).all(), 'no position is NaN in all three'
        owner = owner_of(scene, pixels, np.array([k.score >= 0.3 for k in pose.keypoints]))
        assert owner >= 0
        distance = scene.distances[owner]
        rounded = np.clip(np.floor(pixels + 0.5).astype(int), 0, [width - 1, height - 1])
        labels = scene.labels[rounded[:, 1], rounded[:, 0]]
        for part in np.flatnonzero(has):
            reported += 1
            assert points[part, 2] < scene.background * 0.9, 'a keypoint put on the background'
            if labels[part] == owner:
                on_person += 1
                assert abs(points[part, 2] - distance) <= 0.02 * distance, (part, points[part])
            # x, y follow the camera model: the point images back to the keypoint's pixel.
            np.testing.assert_allclose(model.project(points[part]), pixels[part] + offset,
                                       atol=0.05)
        # Keypoints over a hole or the background: either re-measured on the person or none.
        off_person = (labels == HOLE) | (labels == NO_PERSON)
        assert (np.abs(points[has & off_person, 2] - distance) <= 0.02 * distance).all()
        if pose.has_position:
            assert abs(pose.position.z - distance) <= 0.02 * distance
        else:
            assert all(math.isnan(v) for v in (pose.position.x, pose.position.y,
                                               pose.position.z))
    assert on_person >= 8, f'{on_person} of {reported} positions on the person'
    status = client.wait_for_diagnostic(
        'depth', lambda s: int(diagnostic_values(s)['frames with 3D']) >= 1, timeout_s=5.0,
        since=0)
    assert diagnostic_values(status)['depth frames received since start'] != '0'


def test_without_a_depth_frame_close_in_time_poses_go_out_without_positions(ros, data_path):
    node, client, camera = ros
    scene = depth_scene(data_path, PHOTO_ID, np.random.default_rng(2))
    height, width = scene.image.shape[:2]
    info = camera_info(width, height, 'plumb_bob', [0.0] * 5)
    colour = rgb_to_image_msg(scene.image)
    # Stale depth: 0.5 s older than the colour frame (depth_max_delay is 0.05 s).
    since = len(client.diagnostics)
    answer = camera.exchange(colour, depth_message(scene.depth, '16UC1'), info, depth_delay_s=0.5)
    assert answer.poses
    for pose in answer.poses:
        assert not pose.has_position and math.isnan(pose.position.z)
        assert not any(k.has_position for k in pose.keypoints)
        assert all(math.isnan(k.position.x) for k in pose.keypoints)
    status = client.wait_for_diagnostic('depth', lambda s: s.level == DiagnosticStatus.WARN,
                                        timeout_s=5.0, since=since)
    # (the nearest may be an earlier test's depth frame, still kept: anything beyond 0.05 s)
    gap = float(re.search(r'nearest depth frame is ([0-9.]+) s', status.message).group(1))
    assert gap > 0.05, status.message
    # The depth stream stops altogether: colour frames go on being answered, without 3D.
    for _ in range(3):
        answer = camera.exchange(colour, None, None)
        assert answer.poses and not answer.poses[0].has_position
    assert node.running() and 'Traceback' not in node.log()


def test_a_person_keeps_one_id_frame_after_frame_and_ids_are_not_reused(ros, data_path):
    node, client, camera = ros
    scene = depth_scene(data_path, PHOTO_ID, np.random.default_rng(3))
    height, width = scene.image.shape[:2]
    info = camera_info(width, height, 'plumb_bob', [0.0] * 5)
    colour = rgb_to_image_msg(scene.image)
    depth = depth_message(scene.depth, '16UC1')
    ids = [camera.exchange(colour, depth, info).poses[0].id for _ in range(6)]
    # Tentative for the first track_min_hits - 1 frames (id 0), then one id for good.
    confirmed = [i for i in ids if i]
    assert confirmed and len(set(confirmed)) == 1, ids
    assert ids[-1] == confirmed[0]


def assert_without_positions_and_said(client, answer, cause: str, since: int, case: str):
    """Assert the poses went out without positions, and /diagnostics' depth status says why."""
    assert answer.poses, case
    assert not any(pose.has_position or any(k.has_position for k in pose.keypoints)
                   for pose in answer.poses), case
    client.wait_for_diagnostic(
        'depth', lambda s: s.level == DiagnosticStatus.WARN and cause in s.message,
        timeout_s=5.0, since=since)


def assert_positions_come_back(camera, colour, depth, info) -> None:
    """Assert people are back in 3D within a few frames of good depth and camera info."""
    for _ in range(10):
        answer = camera.exchange(colour, depth, info)
        if any(k.has_position for pose in answer.poses for k in pose.keypoints):
            return
    raise AssertionError('no positions once good depth and camera info came back')


def _unusable_info(width: int, height: int, **fields):
    info = camera_info(width, height, 'plumb_bob', [0.0] * 5)
    for name, value in fields.items():
        setattr(info, name, value)
    return info


# What a broken driver or a hostile publisher may send beside good colour frames, and the cause
# the node names for it. (depth changes, camera_info fields)
HOSTILE_RGBD = {
    'a focal length of zero': ({}, {'k': [0.0] * 9}, 'K must have positive focal lengths'),
    'NaN in K': ({}, {'k': [math.nan] * 9}, 'K holds non-finite values'),
    'an unknown lens model': ({}, {'distortion_model': 'fisheye_magic'}, 'is not supported'),
    'a thousand distortion coefficients': ({}, {'d': [0.01] * 1000}, 'got 1000'),
    'depth in rgb8': ({'encoding': 'rgb8'}, {}, "depth encoding 'rgb8' is not supported"),
    'depth data shorter than its rows': ({'data': bytes(100)}, {}, 'holds 100 bytes, fewer'),
    'depth rows shorter than its width': ({'step': 2}, {}, 'with step 2 is malformed'),
}


def test_hostile_depth_or_camera_info_leaves_poses_without_positions_and_says_why(
        ros, data_path):
    node, client, camera = ros
    scene = depth_scene(data_path, PHOTO_ID, np.random.default_rng(4))
    height, width = scene.image.shape[:2]
    colour = rgb_to_image_msg(scene.image)
    good_info = camera_info(width, height, 'plumb_bob', [0.0] * 5)
    for case, (depth_fields, info_fields, cause) in HOSTILE_RGBD.items():
        depth = depth_message(scene.depth, '16UC1')
        for name, value in depth_fields.items():
            setattr(depth, name, value)
        info = _unusable_info(width, height, **info_fields) if info_fields else good_info
        since = len(client.diagnostics)
        answer = camera.exchange(colour, depth, info)
        assert_without_positions_and_said(client, answer, cause, since, case)
        assert node.running(), (case, node.log()[-3000:])
    # Good depth and camera info again: people are back in 3D.
    assert_positions_come_back(camera, colour, depth_message(scene.depth, '16UC1'), good_info)
    assert 'Traceback' not in node.log()


def test_depth_or_camera_info_of_another_frame_is_refused_as_not_registered(ros, data_path):
    """
    A depth topic or camera_info remapped from another camera (not registered to the colour).

    E.g. a RealSense's depth/image_rect_raw (camera_depth_optical_frame) in place of
    aligned_depth_to_color: its pixels are not the colour image's, so positions would be wrong.
    The poses go out without positions and /diagnostics says why; registered again, 3D is back.
    """
    node, client, camera = ros
    scene = depth_scene(data_path, PHOTO_ID, np.random.default_rng(6))
    height, width = scene.image.shape[:2]
    colour = rgb_to_image_msg(scene.image)
    depth = depth_message(scene.depth, '16UC1')
    info = camera_info(width, height, 'plumb_bob', [0.0] * 5)
    for unregistered, cause in (
            ('depth', 'the depth frames on /camera/aligned_depth_to_color/image_raw are in '
                      "'camera_depth_optical_frame'"),
            ('info', 'camera_info on /camera/color/camera_info is of frame '
                     "'camera_depth_optical_frame'")):
        since = len(client.diagnostics)
        answer = camera.exchange(colour, depth, info,
                                 unregistered={unregistered: 'camera_depth_optical_frame'})
        assert_without_positions_and_said(client, answer, cause, since, unregistered)
    assert_positions_come_back(camera, colour, depth, info)
    # The same frame written with tf2's old leading '/' is the same frame.
    answer = camera.exchange(colour, depth, info, unregistered={'depth': '/' + CAMERA_FRAME})
    assert any(k.has_position for pose in answer.poses for k in pose.keypoints)
    # Registered under another frame's name (a RealSense's depth with its infra1 image): the
    # check can be turned off.
    results = client.set_parameters(depth_same_frame=False)
    assert all(result.successful for result in results), results
    try:
        answer = camera.exchange(colour, depth, info,
                                 unregistered={'depth': 'camera_depth_optical_frame'})
        assert any(k.has_position for pose in answer.poses for k in pose.keypoints)
    finally:
        client.set_parameters(depth_same_frame=True)
    assert 'Traceback' not in node.log()


def test_depth_bytes_that_are_not_an_image_are_named_and_3d_comes_back(ros, data_path):
    """The node reads depth frames raw: any bytes a publisher writes are a reason, not a crash."""
    node, client, camera = ros
    scene = depth_scene(data_path, PHOTO_ID, np.random.default_rng(5))
    height, width = scene.image.shape[:2]
    colour = rgb_to_image_msg(scene.image)
    info = camera_info(width, height, 'plumb_bob', [0.0] * 5)
    since = len(client.diagnostics)
    for _ in range(3):
        camera.depth.publish(b'\0\1\0\0' + b'\xff' * 64)
        answer = camera.exchange(colour, None, info)
        assert answer.poses and not answer.poses[0].has_position
    client.wait_for_diagnostic(
        'depth', lambda s: 'could not be read: not a serialized Image' in s.message,
        timeout_s=5.0, since=since)
    answer = camera.exchange(colour, depth_message(scene.depth, '16UC1'), info)
    assert answer.poses and any(k.has_position for k in answer.poses[0].keypoints)
    assert node.running() and 'Traceback' not in node.log()


def test_mirrored_poses_are_placed_and_drawn_where_the_person_is(ros, data_path):
    """
    flip_horizontal mirrors the published pixels, not the camera.

    Depth is still read, and the skeleton still drawn on poses/image, where the person is.
    """
    node, client, camera = ros
    scene = depth_scene(data_path, PHOTO_ID, np.random.default_rng(4))
    height, width = scene.image.shape[:2]
    info = camera_info(width, height, 'plumb_bob', [0.0] * 5)
    colour, depth = rgb_to_image_msg(scene.image), depth_message(scene.depth, '16UC1')
    client.subscribe_visualization()
    answers = {}
    try:
        for flip in (False, True):  # tracking off: a mirrored pose would start a new track
            results = client.set_parameters(flip_horizontal=flip, tracking=False)
            assert all(result.successful for result in results), results
            answers[flip] = camera.exchange(colour, depth, info)
            drawn = client.spin_until(lambda: any(
                image.header.stamp == answers[flip].header.stamp
                for image in client.images), 10.0)
            assert drawn, 'no poses/image for the frame'
    finally:
        client.set_parameters(flip_horizontal=False, tracking=True)
        client.unsubscribe_visualization()
    plain, mirrored = answers[False], answers[True]
    assert plain.poses and len(plain.poses) == len(mirrored.poses)
    placed = 0
    for pose, flipped in zip(plain.poses, mirrored.poses):
        pixels = np.array([(k.x, k.y) for k in pose.keypoints])
        flipped_pixels = np.array([(k.x, k.y) for k in flipped.keypoints])
        np.testing.assert_allclose(flipped_pixels[:, 0], width - 1 - pixels[:, 0], atol=1e-3)
        np.testing.assert_allclose(flipped_pixels[:, 1], pixels[:, 1], atol=1e-3)
        assert [k.has_position for k in flipped.keypoints] == \
            [k.has_position for k in pose.keypoints]
        for k, f in zip(pose.keypoints, flipped.keypoints):
            if k.has_position:
                placed += 1
                np.testing.assert_allclose((f.position.x, f.position.y, f.position.z),
                                           (k.position.x, k.position.y, k.position.z), atol=1e-6)
    assert placed >= 8
    images = {(image.header.stamp.sec, image.header.stamp.nanosec): bytes(image.data)
              for image in client.images}
    assert images[stamp_of(mirrored)] == images[stamp_of(plain)], \
        'the mirrored poses were not drawn on the person'
