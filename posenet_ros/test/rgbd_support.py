"""
An RGB-D camera for tests over DDS: colour, registered depth and CameraInfo, as a RealSense.

The three topics are those of the RealSense driver (`/camera/color/image_raw`,
`/camera/aligned_depth_to_color/image_raw`, `/camera/color/camera_info`), remapped onto the
node's `image`, `depth/image` and `camera_info` by `REALSENSE`.
"""
from __future__ import annotations

import array

from node_support import PoseNetClient
import numpy as np
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image

REALSENSE = {'image': '/camera/color/image_raw',
             'depth/image': '/camera/aligned_depth_to_color/image_raw',
             'camera_info': '/camera/color/camera_info'}
CAMERA_FRAME = 'camera_color_optical_frame'
RELIABLE = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE,
                      history=HistoryPolicy.KEEP_LAST)


def camera_info(width: int, height: int, model: str, d: list) -> CameraInfo:
    """Return a CameraInfo of known intrinsics: focal 0.9 x width, centre in the middle."""
    focal = 0.9 * width
    k = [focal, 0.0, width / 2 - 0.5, 0.0, focal, height / 2 - 0.5, 0.0, 0.0, 1.0]
    return CameraInfo(width=width, height=height, distortion_model=model, d=d, k=k,
                      r=[1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0],
                      p=[k[0], 0, k[2], 0, 0, k[4], k[5], 0, 0, 0, 1.0, 0])


def depth_message(depth: np.ndarray, encoding: str) -> Image:
    height, width = depth.shape
    data = array.array('B')
    data.frombytes(np.ascontiguousarray(depth).tobytes())
    return Image(height=height, width=width, encoding=encoding, is_bigendian=0,
                 step=depth.strides[0], data=data)


class RealSense:
    """Publishes colour, aligned depth and camera info with one stamp, as the driver does."""

    def __init__(self, client: PoseNetClient):
        self.client = client
        node = client.node
        self.colour = node.create_publisher(Image, REALSENSE['image'], RELIABLE)
        self.depth = node.create_publisher(Image, REALSENSE['depth/image'], RELIABLE)
        self.info = node.create_publisher(CameraInfo, REALSENSE['camera_info'], RELIABLE)

    def send(self, colour, depth, info, frame_id, depth_delay_s=0.0, stamp=None,
             unregistered: dict | None = None):
        """
        Publish the three with one stamp, all in `frame_id` (registered, as the driver's).

        unregistered: {'depth' or 'info': another frame_id} for what is not registered.
        """
        unregistered = unregistered or {}
        stamp = stamp or self.client.node.get_clock().now().to_msg()
        colour.header.stamp, colour.header.frame_id = stamp, frame_id
        if info is not None:
            info.header.stamp = stamp
            info.header.frame_id = unregistered.get('info', frame_id)
            self.info.publish(info)
        if depth is not None:
            depth.header.frame_id = unregistered.get('depth', frame_id)
            nanoseconds = stamp.sec * 10**9 + stamp.nanosec - int(depth_delay_s * 1e9)
            depth.header.stamp.sec, depth.header.stamp.nanosec = divmod(nanoseconds, 10**9)
            self.depth.publish(depth)
            self.client.spin_for(0.05)  # the depth frame is there before its colour frame
        self.colour.publish(colour)

    def exchange(self, colour, depth, info, depth_delay_s=0.0, timeout_s=30.0,
                 unregistered: dict | None = None, frame_id: str = CAMERA_FRAME):
        """
        Send the three in the camera's frame and return the PoseArray of the same stamp.

        One frame_id throughout, as a driver's: its camera_info is the same camera every time.
        """
        for attempt in range(int(timeout_s / 2)):
            stamp = self.client.node.get_clock().now().to_msg()
            self.send(colour, depth, info, frame_id, depth_delay_s, stamp=stamp,
                      unregistered=unregistered)

            def answer():
                return next((poses for poses in self.client.poses
                             if poses.header.stamp == stamp), None)
            if self.client.spin_until(lambda: answer() is not None, 2.0):
                return answer()
        raise AssertionError('no PoseArray answered')
