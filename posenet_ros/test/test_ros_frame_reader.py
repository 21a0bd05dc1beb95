"""The node's frame reader over real DDS: newest frame only, every frame sent accounted for."""
from __future__ import annotations

import time

from node_support import DomainClaim
from posenet_ros.ros.frame_reader import DirectSubscription, NewestFrameReader
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import Header

pytestmark = pytest.mark.dds  # starts nodes and talks to them over DDS

RELIABLE = ReliabilityPolicy.RELIABLE


@pytest.fixture
def nodes():
    """Yield a publishing node and a reading node in one private domain, with their context."""
    claim = DomainClaim('frame_reader')
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=claim.domain_id)
    publisher_node = rclpy.create_node('camera', context=context)
    reader_node = rclpy.create_node('reader', context=context)
    try:
        yield publisher_node, reader_node
    finally:
        publisher_node.destroy_node()
        reader_node.destroy_node()
        rclpy.try_shutdown(context=context)
        claim.release()


def publish(publisher, frame_ids) -> None:
    for frame_id in frame_ids:
        publisher.publish(Header(frame_id=frame_id))


def connected(publisher, subscription, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while publisher.get_subscription_count() == 0 or subscription.get_publisher_count() == 0:
        assert time.monotonic() < deadline, 'publisher and reader never matched'
        time.sleep(0.05)


def take_within(reader, timeout_s: float = 5.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        message = reader.take_newest(timeout_s=0.2)
        if message is not None:
            return message
    return None


@pytest.mark.parametrize('depth', [1, 10])
def test_only_the_newest_frame_is_returned_and_the_rest_counted(nodes, depth):
    publisher_node, reader_node = nodes
    qos = QoSProfile(depth=10, reliability=RELIABLE)
    publisher = publisher_node.create_publisher(Header, 'image', qos)
    reader = NewestFrameReader(reader_node, Header, 'image',
                               QoSProfile(depth=depth, reliability=RELIABLE,
                                          history=HistoryPolicy.KEEP_LAST))
    connected(publisher, reader.subscription)
    publish(publisher, ['first'])
    assert take_within(reader).frame_id == 'first'
    assert reader.counts() == (1, 0)

    publish(publisher, [f'burst {i}' for i in range(8)])
    time.sleep(1.0)  # all of them delivered before one is taken
    assert take_within(reader).frame_id == 'burst 7'
    # With depth 1 DDS kept only the last one: the other 7 show up as a sequence gap; with
    # depth 10 they were taken and skipped. Either way every frame sent is accounted for.
    assert reader.counts() == (9, 7)
    assert reader.take_newest(timeout_s=0.2) is None


def test_an_executor_spinning_the_node_does_not_take_the_frames(nodes):
    publisher_node, reader_node = nodes
    qos = QoSProfile(depth=10, reliability=RELIABLE)
    publisher = publisher_node.create_publisher(Header, 'image', qos)
    reader = DirectSubscription(reader_node, Header, 'image', qos)
    connected(publisher, reader.subscription)
    executor = SingleThreadedExecutor(context=reader_node.context)
    executor.add_node(reader_node)
    publish(publisher, ['a', 'b', 'c'])
    for _ in range(10):  # the subscription's callback would raise if the executor ran it
        executor.spin_once(timeout_sec=0.05)
    taken = []
    deadline = time.monotonic() + 5.0
    while len(taken) < 3 and time.monotonic() < deadline:
        taken += [message.frame_id for message, _ in reader.take_all(timeout_s=0.2)]
    assert taken == ['a', 'b', 'c']
    executor.shutdown()
