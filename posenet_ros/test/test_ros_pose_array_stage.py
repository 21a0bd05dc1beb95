"""
The PoseArray stage gives the same PoseArray as bytes (this middleware) and as a message.

The node publishes the bytes where the middleware serializes the message identically and the
message elsewhere (another middleware): subscribers must get the same poses and header either
way, with the output frame of `target_frame` in both.
"""
from __future__ import annotations

import numpy as np
from posenet_msgs.msg import PoseArray
from posenet_ros.ros import pose_array_wire
from posenet_ros.ros.parameters import LIVE, live_settings, SPECS
from posenet_ros.ros.pipeline import Frame
from posenet_ros.ros.stages.poses import PoseArrayStage
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import Image


def frame_of(people, output_frame):
    message = Image()
    message.header.frame_id = 'camera_optical_frame'
    message.header.stamp.sec, message.header.stamp.nanosec = 1712345678, 123456789
    live = live_settings({name: SPECS[name].default for name in LIVE}, 0.75)
    return Frame(message=message, settings=live, people=people, frame_id=output_frame)


@pytest.mark.parametrize('output_frame', [None, 'base_link'])
def test_bytes_and_message_carry_the_same_poses(output_frame):
    people = pose_array_wire._made_up_people(np.random.default_rng(3), 4)
    as_bytes = PoseArrayStage()
    assert as_bytes.as_bytes, 'this middleware (Fast DDS) takes the bytes'
    as_message = PoseArrayStage()
    as_message.as_bytes = False  # as on a middleware whose encoding differs
    sent_bytes, sent_message = frame_of(people, output_frame), frame_of(people, output_frame)
    as_bytes(sent_bytes)
    as_message(sent_message)
    assert isinstance(sent_bytes.pose_array, bytes)
    assert isinstance(sent_message.pose_array, PoseArray)
    received = deserialize_message(sent_bytes.pose_array, PoseArray)
    expected = deserialize_message(serialize_message(sent_message.pose_array), PoseArray)
    assert repr(received) == repr(expected)
    assert received.header.frame_id == (output_frame or 'camera_optical_frame')
    assert len(received.poses) == 4
