"""
posenet_node with use_compressed: JPEG and PNG frames on image/compressed, default QoS.

The node runs with the default (sensor-data, best-effort) subscription; frames are re-sent when
one is lost, as a camera's next frame would replace it.
"""
from __future__ import annotations

import signal

import cv2
from node_support import assert_same_poses, load_rgb, running_node
import numpy as np
from posenet_ros.engine.config import EstimateConfig
from posenet_ros.engine.estimator import PoseEstimator
import pytest
from rclpy.qos import ReliabilityPolicy
from sensor_msgs.msg import CompressedImage

pytestmark = pytest.mark.dds  # starts nodes and talks to them over DDS

MODEL = 'mobilenet_quant2_075'
CONFIG = EstimateConfig(output_stride=16, input_height=353, input_width=481, decoding='multi',
                        max_pose_detections=5, score_threshold=0.5, nms_radius=20.0)
MIN_POSE_SCORE = 0.15
PHOTO = 'smoke/zidane.jpg'


def compressed(rgb: np.ndarray, extension: str, fmt: str) -> CompressedImage:
    ok, data = cv2.imencode(extension, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return CompressedImage(format=fmt, data=data.tobytes())


def decoded(message: CompressedImage) -> np.ndarray:
    """Return the pixels the node gets out of the message (OpenCV's decoder)."""
    bgr = cv2.imdecode(np.frombuffer(bytes(message.data), np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope='module')
def estimator(models_path):
    return PoseEstimator(str(models_path / MODEL))


@pytest.fixture(scope='module')
def rgb(data_path):
    return load_rgb(data_path / PHOTO)


@pytest.fixture(scope='module')
def ros(models_path, rgb, tmp_path_factory):
    parameters = {'model': str(models_path / MODEL), 'use_compressed': True}
    first = compressed(rgb, '.jpg', 'rgb8; jpeg compressed bgr8')
    with running_node('compressed', parameters, tmp_path_factory.mktemp('node'), first,
                      compressed=True) as running:
        yield running


@pytest.mark.parametrize('extension, fmt', [
    ('.jpg', 'rgb8; jpeg compressed bgr8'),  # what image_transport's compressed plugin writes
    ('.jpg', 'jpeg'),
    ('.png', 'png'),
])
def test_poses_are_the_engines_for_the_decoded_frame(ros, estimator, rgb, extension, fmt):
    node, client = ros
    message = compressed(rgb, extension, fmt)
    result = estimator.estimate(decoded(message), CONFIG)
    assert result.poses
    assert_same_poses(client.exchange(message), result, MIN_POSE_SCORE)


@pytest.mark.parametrize('data, cause', [
    (b'\xff\xd8\xff\xe0 this is not really a JPEG' * 10, 'ends before its frame header'),
    (b'', 'empty data'),
])
def test_corrupt_compressed_data_is_logged_and_the_node_goes_on(ros, rgb, data, cause):
    node, client = ros
    bad_id = None
    for _ in range(5):  # best effort: re-sent until the node has taken it
        bad_id = client.send(CompressedImage(format='jpeg', data=data))
        if node.wait_for_log(cause, timeout_s=2.0):
            break
    (line,) = [line for line in node.log().splitlines() if cause in line][-1:]
    assert '/image/compressed' in line
    client.exchange(compressed(rgb, '.jpg', 'jpeg'))
    assert client.answer_to(bad_id) is None


def test_the_default_subscription_is_best_effort_on_image_compressed(ros):
    node, client = ros
    infos = client.node.get_subscriptions_info_by_topic('/image/compressed')
    (subscription,) = [info for info in infos
                       if info.node_name == 'posenet_node']
    assert subscription.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT
    assert subscription.topic_type == 'sensor_msgs/msg/CompressedImage'
    assert not [info for info in client.node.get_subscriptions_info_by_topic('/image')
                if info.node_name == 'posenet_node']


def test_ctrl_c_exits_0_without_traceback(ros):
    node, client = ros
    node.process.send_signal(signal.SIGINT)
    assert node.process.wait(timeout=20) == 0
    assert 'Traceback' not in node.log()
