"""Stages: the estimate as a posenet_msgs/PoseArray (`frame.pose_array`), and its publishing.

Building and publishing are two stages so that stages between them (depth, tracking, smoothing)
can complete the message before it goes out.
"""
from __future__ import annotations

from typing import Callable

from posenet_ros.ros.messages import to_pose_array
from posenet_ros.ros.pipeline import Frame


class PoseArrayStage:
    """The poses scoring at least `min_pose_score`, stamped with the image's header."""

    def __call__(self, frame: Frame) -> None:
        frame.pose_array = to_pose_array(frame.result, frame.header,
                                         frame.settings.min_pose_score)


class PublishPosesStage:
    """Publishes `frame.pose_array` and records its latency (image stamp to publish, in ms)."""

    def __init__(self, publisher, now_ns: Callable[[], int]):
        self._publisher = publisher
        self._now_ns = now_ns

    def __call__(self, frame: Frame) -> None:
        self._publisher.publish(frame.pose_array)
        stamp = frame.header.stamp
        stamp_ns = stamp.sec * 1_000_000_000 + stamp.nanosec
        if stamp_ns > 0:
            frame.latency_ms = (self._now_ns() - stamp_ns) / 1e6
