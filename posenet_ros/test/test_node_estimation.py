"""
posenet_node over DDS: real photos in, the engine's poses out, visualization on demand.

The node runs as its own process (the installed `posenet_node`), as a user runs it; what it
publishes is compared with `PoseEstimator` run here on the same pixels and settings.
"""
from __future__ import annotations

from node_support import assert_same_poses, load_rgb, running_node
import numpy as np
from posenet_ros.engine.config import EstimateConfig
from posenet_ros.engine.estimator import PoseEstimator
from posenet_ros.ros.image_conversion import image_to_rgb, rgb_to_image_msg
from posenet_ros.ros.markers import JOINTS_NAMESPACE, SKELETON_NAMESPACE
import pytest
from rclpy.qos import ReliabilityPolicy

pytestmark = pytest.mark.dds  # starts nodes and talks to them over DDS

MODEL = 'mobilenet_quant2_075'
# The node's defaults (config/posenet.yaml), spelled out so the offline run uses the same.
CONFIG = EstimateConfig(output_stride=16, input_height=353, input_width=481, decoding='multi',
                        max_pose_detections=5, score_threshold=0.5, nms_radius=20.0)
MIN_POSE_SCORE = 0.15
PHOTOS = ['smoke/zidane.jpg', 'smoke/bus.jpg', 'smoke/skimage_astronaut.jpg',
          'coco_kpts/images/000000005802.jpg']


@pytest.fixture(scope='module')
def estimator(models_path):
    return PoseEstimator(str(models_path / MODEL))


@pytest.fixture(scope='module')
def ros(models_path, data_path, tmp_path_factory):
    parameters = {
        'model': str(models_path / MODEL),
        # The standard QoS override parameter: the input subscription made reliable.
        'qos_overrides./image.subscription.reliability': 'reliable',
    }
    first = rgb_to_image_msg(load_rgb(data_path / PHOTOS[0]))
    with running_node('estimation', parameters, tmp_path_factory.mktemp('node'), first) as running:
        yield running


@pytest.mark.parametrize('photo', PHOTOS)
def test_poses_are_the_engines_for_the_same_photo(ros, estimator, data_path, photo):
    node, client = ros
    rgb = load_rgb(data_path / photo)
    sent = rgb_to_image_msg(rgb)
    answer = client.exchange(sent)
    assert answer.header.stamp == sent.header.stamp  # the header is copied unchanged
    assert_same_poses(answer, estimator.estimate(rgb, CONFIG), MIN_POSE_SCORE)


@pytest.mark.parametrize('encoding', ['bgr8', 'rgba8', 'mono8'])
def test_other_encodings_give_the_poses_of_their_pixels(ros, estimator, data_path, encoding):
    node, client = ros
    message = rgb_to_image_msg(load_rgb(data_path / PHOTOS[0]), encoding=encoding)
    pixels = image_to_rgb(message)  # what the node sees: grey for mono8
    answer = client.exchange(message)
    result = estimator.estimate(pixels, CONFIG)
    assert result.poses, 'the photo must show people for this test to mean anything'
    assert_same_poses(answer, result, MIN_POSE_SCORE)


def test_an_image_without_people_gets_an_empty_pose_array(ros, estimator):
    node, client = ros
    black = np.zeros((480, 640, 3), np.uint8)
    assert not [p for p in estimator.estimate(black, CONFIG).poses if p.score >= MIN_POSE_SCORE]
    answer = client.exchange(rgb_to_image_msg(black))
    assert answer.poses == []
    assert (answer.image_width, answer.image_height) == (640, 480)


def test_markers_and_annotated_image_come_for_each_frame_while_subscribed(ros, data_path):
    node, client = ros
    client.subscribe_visualization()
    try:
        client.spin_for(1.0)  # let discovery match the new subscriptions
        rgb = load_rgb(data_path / PHOTOS[0])
        answer = client.exchange(rgb_to_image_msg(rgb))
        frame_id = answer.header.frame_id
        assert client.spin_until(
            lambda: any(m.markers and m.markers[0].header.frame_id == frame_id
                        for m in client.markers)
            and any(i.header.frame_id == frame_id for i in client.images), 10.0)
    finally:
        client.unsubscribe_visualization()
    markers = next(m for m in client.markers if m.markers[0].header.frame_id == frame_id).markers
    drawn = [m for m in markers if m.action == m.ADD]
    assert {m.ns for m in drawn} == {JOINTS_NAMESPACE, SKELETON_NAMESPACE}
    assert {m.id for m in drawn} == set(range(len(answer.poses)))
    image = next(i for i in client.images if i.header.frame_id == frame_id)
    assert image.header.stamp == answer.header.stamp
    annotated = image_to_rgb(image)
    assert annotated.shape == rgb.shape
    assert np.count_nonzero(np.any(annotated != rgb, axis=2)) > 100  # skeletons drawn on it


def test_topics_and_their_qos(ros):
    node, client = ros
    graph = client.node
    (subscription,) = [info for info in graph.get_subscriptions_info_by_topic('/image')
                       if info.node_name == 'posenet_node']
    # Overridden through qos_overrides./image.subscription.reliability (default: best effort).
    assert subscription.qos_profile.reliability == ReliabilityPolicy.RELIABLE
    assert subscription.topic_type == 'sensor_msgs/msg/Image'
    (poses,) = [info for info in graph.get_publishers_info_by_topic('/poses')
                if info.node_name == 'posenet_node']
    assert poses.qos_profile.reliability == ReliabilityPolicy.RELIABLE
    assert poses.topic_type == 'posenet_msgs/msg/PoseArray'
    topics = dict(graph.get_topic_names_and_types())
    assert topics['/poses/markers'] == ['visualization_msgs/msg/MarkerArray']
    assert topics['/poses/image'] == ['sensor_msgs/msg/Image']
