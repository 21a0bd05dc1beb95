"""
posenet_node's parameters, changed while it runs through its set_parameters service.

Every accepted change must show in the very next frame (checked against the engine run offline
with the same settings), except those that need a network built for a new input size or stride:
frames go on with the previous one until it is built, then switch; every refused one must come
back with a reason and leave the old value and behaviour in place.
"""
from __future__ import annotations

import dataclasses

from node_support import (assert_same_poses, exchange_until_same, load_rgb, NETWORK_SETTINGS,
                          running_node)
import numpy as np
from posenet_ros.engine.config import EstimateConfig
from posenet_ros.engine.estimator import PoseEstimator
from posenet_ros.ros.image_conversion import rgb_to_image_msg
from posenet_ros.ros.markers import JOINTS_NAMESPACE
from posenet_ros.ros.parameters import LIVE, SPECS
import pytest

pytestmark = pytest.mark.dds  # starts nodes and talks to them over DDS

MODEL = 'mobilenet_quant2_075'
PHOTO = 'smoke/zidane.jpg'  # three people: every decoding setting changes what is found
CONFIG = EstimateConfig(output_stride=16, input_height=353, input_width=481, decoding='multi',
                        max_pose_detections=5, score_threshold=0.5, nms_radius=20.0)
# Every pose published, so that a change to any decoding setting is visible.
STARTUP = {'min_pose_score': 0.0}
LIVE_DEFAULTS = {name: STARTUP.get(name, SPECS[name].default) for name in LIVE}


@pytest.fixture(scope='module')
def estimator(models_path):
    return PoseEstimator(str(models_path / MODEL))


@pytest.fixture(scope='module')
def rgb(data_path):
    return load_rgb(data_path / PHOTO)


@pytest.fixture(scope='module')
def ros(models_path, rgb, tmp_path_factory):
    parameters = {'model': str(models_path / MODEL), **STARTUP}
    with running_node('parameters', parameters, tmp_path_factory.mktemp('node'),
                      rgb_to_image_msg(rgb)) as running:
        yield running


@pytest.fixture(autouse=True)
def defaults_restored(ros, estimator, rgb):
    yield
    node, client = ros
    results = client.set_parameters(**LIVE_DEFAULTS)
    assert all(result.successful for result in results), [r.reason for r in results]
    # Frames until the defaults are in use (a network size changed back is in use at once).
    exchange_until_same(client, rgb_to_image_msg(rgb), estimator.estimate(rgb, CONFIG), None, 0.0)


def differs(first, second) -> bool:
    if len(first.poses) != len(second.poses):
        return True
    return any(not np.allclose(a.keypoint_coords, b.keypoint_coords, atol=1e-2)
               or abs(a.score - b.score) > 1e-3 for a, b in zip(first.poses, second.poses))


@pytest.mark.parametrize('name, value', [
    ('output_stride', 8),
    ('input_width', 641),
    ('input_height', 481),
    ('decoding', 'single'),
    ('max_pose_detections', 1),
    ('score_threshold', 0.9),
    ('nms_radius', 60.0),
    ('flip_horizontal', True),
    ('match_aspect_ratio', True),
    ('flip_test', True),
    ('refine_keypoints', True),
    ('pose_score_keypoints', 5),
])
def test_a_change_shows_in_the_next_frame(ros, estimator, rgb, name, value):
    node, client = ros
    before = estimator.estimate(rgb, CONFIG)
    after = estimator.estimate(rgb, dataclasses.replace(CONFIG, **{name: value}))
    assert differs(before, after), f'{name}={value!r} must change the poses of {PHOTO}'

    (result,) = client.set_parameters(**{name: value})
    assert result.successful, result.reason
    assert client.get_parameter(name) == value
    if name in NETWORK_SETTINGS:
        exchange_until_same(client, rgb_to_image_msg(rgb), after, before, 0.0)
    else:
        assert_same_poses(client.exchange(rgb_to_image_msg(rgb)), after, 0.0)


def test_min_pose_score_leaves_weaker_poses_out(ros, estimator, rgb):
    node, client = ros
    result = estimator.estimate(rgb, CONFIG)
    scores = sorted(pose.score for pose in result.poses)
    threshold = (scores[0] + scores[-1]) / 2
    (reply,) = client.set_parameters(min_pose_score=threshold)
    assert reply.successful, reply.reason
    answer = client.exchange(rgb_to_image_msg(rgb))
    assert 0 < len(answer.poses) < len(result.poses)
    assert_same_poses(answer, result, threshold)


def test_an_input_size_is_snapped_and_the_snapped_value_reported_and_used(ros, estimator, rgb):
    node, client = ros
    (result,) = client.set_parameters(input_width=300)
    assert result.successful, result.reason
    # rclpy drops the reason of an accepted change, so the node logs it.
    assert node.wait_for_log('input_width 300 snapped to 289')
    expected = estimator.estimate(rgb, dataclasses.replace(CONFIG, input_width=289))
    previous = estimator.estimate(rgb, CONFIG)
    assert differs(expected, previous)
    exchange_until_same(client, rgb_to_image_msg(rgb), expected, previous, 0.0)


def test_several_values_are_checked_together(ros, estimator, rgb):
    node, client = ros
    # One request, two parameters: both apply to the same frame (the decoding at once, with the
    # stride in use until the stride-8 network is built).
    results = client.set_parameters(output_stride=8, decoding='single')
    assert all(result.successful for result in results), [r.reason for r in results]
    expected = estimator.estimate(rgb, dataclasses.replace(CONFIG, output_stride=8,
                                                           decoding='single'))
    meanwhile = estimator.estimate(rgb, dataclasses.replace(CONFIG, decoding='single'))
    exchange_until_same(client, rgb_to_image_msg(rgb), expected, meanwhile, 0.0)


@pytest.mark.parametrize('name, value, reason', [
    ('output_stride', 32, 'multiplier'),          # 0.75 reaches at most 16
    ('output_stride', 12, 'output_stride'),       # not a multiple of 8 (descriptor range)
    ('decoding', 'both', "'single' or 'multi'"),
    ('max_pose_detections', 0, 'max_pose_detections'),
    ('score_threshold', 1.5, 'score_threshold'),
    ('score_threshold', 1, 'type'),               # an integer where a double is declared
    ('nms_radius', 0.0, 'nms_radius'),
    ('input_width', 5000, 'input_width'),
    ('pose_score_keypoints', 18, 'pose_score_keypoints'),
    ('min_keypoint_score', -0.1, 'min_keypoint_score'),
    ('marker_pixel_size', 0.0, 'marker_pixel_size'),
    ('model', 'mobilenet_float_050', 'read-only'),
    ('multiplier', 1.0, 'read-only'),
    ('device', 'cpu', 'read-only'),
    ('backend', 'eager', 'read-only'),
    ('use_compressed', True, 'read-only'),
])
def test_a_refused_value_says_why_and_keeps_the_old_one(ros, estimator, rgb, name, value, reason):
    node, client = ros
    old = client.get_parameter(name)
    (result,) = client.set_parameters(**{name: value})
    assert not result.successful
    assert reason in result.reason
    assert client.get_parameter(name) == old
    assert_same_poses(client.exchange(rgb_to_image_msg(rgb)), estimator.estimate(rgb, CONFIG), 0.0)


def test_visualization_parameters(ros, rgb):
    node, client = ros
    client.subscribe_visualization()
    try:
        client.spin_for(1.0)  # let discovery match the new subscriptions

        def visualization_of(frame_id, wait_s=5.0):
            client.spin_until(lambda: any(m.markers and m.markers[0].header.frame_id == frame_id
                                          for m in client.markers)
                              and any(i.header.frame_id == frame_id for i in client.images),
                              wait_s)
            markers = [m for m in client.markers
                       if m.markers and m.markers[0].header.frame_id == frame_id]
            images = [i for i in client.images if i.header.frame_id == frame_id]
            return markers, images

        def joint_markers(markers):
            return [m for m in markers[0].markers
                    if m.ns == JOINTS_NAMESPACE and m.action == m.ADD]

        # min_keypoint_score 0 draws all 17 joints of every pose; marker_pixel_size scales them.
        (a, b) = client.set_parameters(min_keypoint_score=0.0, marker_pixel_size=0.01)
        assert a.successful and b.successful
        answer = client.exchange(rgb_to_image_msg(rgb))
        markers, images = visualization_of(answer.header.frame_id)
        assert markers and images
        joints = joint_markers(markers)
        assert len(joints) == len(answer.poses)
        for marker in joints:
            pose = answer.poses[marker.id]
            assert len(marker.points) == 17
            np.testing.assert_allclose([(p.x, p.y) for p in marker.points],
                                       [(k.x * 0.01, k.y * 0.01) for k in pose.keypoints],
                                       rtol=1e-5)

        # A high min_keypoint_score draws only the confident joints.
        (reply,) = client.set_parameters(min_keypoint_score=0.9)
        assert reply.successful
        answer = client.exchange(rgb_to_image_msg(rgb))
        markers, _ = visualization_of(answer.header.frame_id)
        confident = sum(k.score >= 0.9 for pose in answer.poses for k in pose.keypoints)
        assert 0 < confident < 17 * len(answer.poses)
        drawn = sum(len(m.points) for m in joint_markers(markers))
        assert drawn == confident

        # Switched off: nothing more on that topic, the other one goes on.
        (reply,) = client.set_parameters(publish_markers=False)
        assert reply.successful
        answer = client.exchange(rgb_to_image_msg(rgb))
        markers, images = visualization_of(answer.header.frame_id, wait_s=2.0)
        assert not markers and images
        replies = client.set_parameters(publish_markers=True, publish_image=False)
        assert all(reply.successful for reply in replies)
        answer = client.exchange(rgb_to_image_msg(rgb))
        markers, images = visualization_of(answer.header.frame_id, wait_s=2.0)
        assert markers and not images
    finally:
        client.unsubscribe_visualization()
