"""
The depth stream and camera model beside the colour stream, for people in 3D.

`depth/image` (sensor_msgs/Image registered to the colour image: 16UC1 millimetres or 32FC1
metres, REP 118) and `camera_info` (the colour camera's CameraInfo) are received on the executor
(depth frames as their bytes, read by `image_wire` without copying the readings again) and kept
small: the last `history` depth frames and the newest camera info. The frame worker asks
for the depth frame nearest in stamp to its colour frame; colour frames are never queued, so
newest-frame-only stays true. Topic names are relative: remap them to a camera's, e.g. a
RealSense's `/camera/aligned_depth_to_color/image_raw` and `/camera/color/camera_info`.
"""
from __future__ import annotations

import collections
import threading

import numpy as np
from posenet_ros.engine.camera_model import CameraModel
from posenet_ros.ros.image_wire import read_image, reads_like_middleware
from rclpy.qos import HistoryPolicy, qos_profile_sensor_data, QoSProfile
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CameraInfo, Image

DEPTH_HISTORY = 30  # depth frames kept for pairing: 1 s at 30 Hz
DEPTH_QOS = QoSProfile(depth=5, reliability=qos_profile_sensor_data.reliability,
                       history=HistoryPolicy.KEEP_LAST,
                       durability=qos_profile_sensor_data.durability)
# Camera info: any publisher's reliability matches best effort.
CAMERA_INFO_QOS = QoSProfile(depth=1, reliability=qos_profile_sensor_data.reliability,
                             history=HistoryPolicy.KEEP_LAST)
_DEPTH_DTYPES = {'16UC1': np.uint16, 'mono16': np.uint16, '32FC1': np.float32}


class DepthUnavailable(Exception):
    """No depth for this frame; the message says why (diagnostics count it by reason)."""


def stamp_ns(header) -> int:
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec


def depth_image_array(message) -> np.ndarray:
    """
    Return the readings of a 16UC1 / 32FC1 depth Image (or its `image_wire` view) as an array.

    A view when it can be.

    Raises DepthUnavailable naming what is wrong with the message.
    """
    encoding = message.encoding.strip()
    dtype = _DEPTH_DTYPES.get(encoding)
    if dtype is None:
        raise DepthUnavailable(f"depth encoding '{encoding}' is not supported: use 16UC1 "
                               '(millimetres) or 32FC1 (metres)')
    width, height, step = int(message.width), int(message.height), int(message.step)
    itemsize = np.dtype(dtype).itemsize
    if width < 1 or height < 1 or step < width * itemsize:
        raise DepthUnavailable(f'depth image {width}x{height} with step {step} is malformed')
    data = np.frombuffer(message.data, dtype=np.uint8)
    if data.size < step * height:
        raise DepthUnavailable(f'depth image holds {data.size} bytes, fewer than step * height = '
                               f'{step * height}')
    rows = data[:step * height].reshape(height, step)[:, :width * itemsize]
    order = '>' if message.is_bigendian else '<'
    return np.ascontiguousarray(rows).view(np.dtype(dtype).newbyteorder(order)).reshape(
        height, width)


class DepthInput:
    """Subscribes to the depth image and camera info of the node; thread-safe lookups."""

    def __init__(self, node, history: int = DEPTH_HISTORY):
        self._lock = threading.Lock()
        self._depths: collections.deque = collections.deque(maxlen=history)
        self._info: CameraInfo | None = None
        self._camera: CameraModel | None = None
        self._camera_error = ''
        self.depth_received = 0
        self._unreadable = ''  # why the last depth frame could not be read, if it could not
        self._raw = reads_like_middleware(Image)
        self._depth_sub = node.create_subscription(
            Image, 'depth/image', self._on_depth, DEPTH_QOS, raw=self._raw,
            qos_overriding_options=QoSOverridingOptions.with_default_policies())
        self._info_sub = node.create_subscription(CameraInfo, 'camera_info', self._on_info,
                                                  CAMERA_INFO_QOS)
        self.depth_topic = self._depth_sub.topic_name
        self.info_topic = self._info_sub.topic_name

    def destroy(self, node) -> None:
        node.destroy_subscription(self._depth_sub)
        node.destroy_subscription(self._info_sub)

    def _on_depth(self, message) -> None:
        if self._raw:
            try:
                message = read_image(message)
            except ValueError as error:  # bytes of a publisher's own: not a depth frame
                with self._lock:
                    self._unreadable = str(error)
                    self.depth_received += 1
                return
        with self._lock:
            self._depths.append((stamp_ns(message.header), message))
            self._unreadable = ''
            self.depth_received += 1

    def _on_info(self, message: CameraInfo) -> None:
        with self._lock:
            if self._info is not None and _same_camera(self._info, message):
                return
            self._info = message
            try:
                self._camera = CameraModel.from_fields(
                    message.width, message.height, K=list(message.k), D=list(message.d),
                    distortion_model=message.distortion_model or 'plumb_bob',
                    R=list(message.r), P=list(message.p),
                    roi=(message.roi.x_offset, message.roi.y_offset, message.roi.width,
                         message.roi.height))
                self._camera_error = ''
            except ValueError as error:
                self._camera, self._camera_error = None, f'camera_info is unusable: {error}'

    def camera(self, colour_frame_id: str = '') -> CameraModel:
        """
        Return the colour camera's model, or DepthUnavailable saying why there is none.

        A camera_info naming another frame than the colour frames (`colour_frame_id`) describes
        another camera (a depth camera's info remapped by mistake): refused, its intrinsics
        would misplace every point.
        """
        with self._lock:
            if self._camera is not None:
                info_frame = self._info.header.frame_id
                if colour_frame_id and info_frame and not same_frame(info_frame, colour_frame_id):
                    raise DepthUnavailable(
                        f'camera_info on {self.info_topic} is of frame {info_frame!r}, the colour '
                        f'frames are in {colour_frame_id!r}: it must describe the colour camera')
                return self._camera
            raise DepthUnavailable(self._camera_error or f'no camera_info received on '
                                   f'{self.info_topic}: without the camera model there is no 3D')

    def nearest(self, colour_stamp_ns: int, max_delay_s: float, colour_frame_id: str = ''):
        """
        Return the depth frame (Image fields) nearest in stamp to a colour frame, if close.

        A depth frame in another frame than the colour frame is not registered to it (a
        RealSense's depth/image_rect_raw rather than aligned_depth_to_color/image_raw): its
        pixels are not the colour image's, so it is refused with the reason.
        """
        with self._lock:
            unreadable = (f' (the last depth frame received could not be read: '
                          f'{self._unreadable})' if self._unreadable else '')
            if not self._depths:
                raise DepthUnavailable(f'no depth frame received on {self.depth_topic}'
                                       + unreadable)
            gap, message = min(((abs(stamp - colour_stamp_ns), message)
                                for stamp, message in self._depths), key=lambda pair: pair[0])
        if gap > max_delay_s * 1e9:
            raise DepthUnavailable(f'the nearest depth frame is {gap / 1e9:.3f} s from the colour '
                                   f'frame (depth_max_delay {max_delay_s:g} s)' + unreadable)
        depth_frame = message.header.frame_id
        if colour_frame_id and depth_frame and not same_frame(depth_frame, colour_frame_id):
            raise DepthUnavailable(
                f'the depth frames on {self.depth_topic} are in {depth_frame!r}, the colour '
                f'frames in {colour_frame_id!r}: depth must be registered to the colour image '
                "(e.g. a RealSense's aligned_depth_to_color/image_raw)")
        return message


def same_frame(a: str, b: str) -> bool:
    """Whether two frame_ids name one frame (tf2 ignores a leading '/', as old bags have)."""
    return a.lstrip('/') == b.lstrip('/')


def _same_camera(a: CameraInfo, b: CameraInfo) -> bool:
    return _camera_fields(a) == _camera_fields(b)


def _camera_fields(info: CameraInfo) -> tuple:
    roi = info.roi
    return (info.header.frame_id, info.width, info.height, info.distortion_model, list(info.d),
            list(info.k),
            list(info.r), list(info.p), roi.x_offset, roi.y_offset, roi.width, roi.height)
