"""
Stages from the estimate to the published PoseArray.

The estimate as arrays of people (`frame.people`), the PoseArray built from them
(`frame.pose_array`: its serialized bytes where this middleware's encoding is the one
`pose_array_wire` writes, the message otherwise), and its publishing.

People first, message last, so that the stages between (3D, tracking, smoothing) complete the
people before the message is built and goes out.
"""
from __future__ import annotations

from typing import Callable

from posenet_ros.engine.people import PeopleFrame
from posenet_ros.ros.depth_input import stamp_ns
from posenet_ros.ros.pipeline import Frame
from posenet_ros.ros.pose_array_wire import pose_array_builder, writes_like_middleware
from std_msgs.msg import Header


class PeopleStage:
    """The poses scoring at least `min_pose_score`, as a PeopleFrame."""

    def __call__(self, frame: Frame) -> None:
        frame.people = PeopleFrame.from_result(frame.result, frame.settings.min_pose_score)


class PoseArrayStage:
    """
    The PoseArray of `frame.people`, stamped with the image's header.

    As bytes written from the arrays when the middleware would serialize the message to the
    same bytes: built and published in 0.45-0.5 ms at 1-10 people, against 0.4-1.2 ms for the
    message (docs/benchmarks.md).
    """

    def __init__(self):
        self.as_bytes = writes_like_middleware()

    def __call__(self, frame: Frame) -> None:
        header = frame.header
        if frame.frame_id is not None:  # positions moved into another frame (stages/transform)
            header = Header(stamp=header.stamp, frame_id=frame.frame_id)
        frame.pose_array = pose_array_builder(self.as_bytes)(frame.people, header)


class PublishPosesStage:
    """Publishes `frame.pose_array` and records its latency (image stamp to publish, in ms)."""

    def __init__(self, publisher, now_ns: Callable[[], int]):
        self._publisher = publisher
        self._now_ns = now_ns

    def __call__(self, frame: Frame) -> None:
        self._publisher.publish(frame.pose_array)
        captured_ns = stamp_ns(frame.header)
        if captured_ns > 0:
            frame.latency_ms = (self._now_ns() - captured_ns) / 1e6
