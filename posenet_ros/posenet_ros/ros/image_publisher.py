"""
posenet_image_publisher: stream a photo or a video as if it came from a camera.

    posenet_image_publisher                          Grace Hopper's photo (ships with matplotlib)
    posenet_image_publisher --source clip.mp4 --rate 15 --frames 300
    posenet_image_publisher --compressed             JPEG on image/compressed instead of image

Each frame is stamped with the time it is published (so a subscriber measures latency as
now - header.stamp). A video is played at --rate, not its own frame rate, and starts over at its
end. Stops by itself after --frames frames (0: never) or on Ctrl-C, with exit code 0.
"""
from __future__ import annotations

import argparse
from pathlib import Path
import sys

import cv2
import numpy as np
import PIL.Image
from posenet_ros.ros.cli_arguments import positive_float
from posenet_ros.ros.image_conversion import rgb_to_image_msg
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.utilities import remove_ros_args
from sensor_msgs.msg import CompressedImage, Image

# Reliable, so it also reaches subscribers that ask for reliable delivery; a best-effort
# subscriber (posenet_node's default) still gets best-effort delivery.
IMAGE_QOS = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE,
                       history=HistoryPolicy.KEEP_LAST)
ENCODINGS = ('rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8', 'mono16')


def default_photo() -> Path:
    """Grace Hopper's portrait from matplotlib's sample data (a person), if matplotlib is there."""
    try:
        from matplotlib import cbook
    except ImportError:
        raise ValueError('no default photo: matplotlib (whose sample portrait it is) is not '
                         'installed; give a photo or video with --source') from None
    return Path(cbook.get_sample_data('grace_hopper.jpg', asfileobj=False))


class FrameSource:
    """RGB frames of a photo (the same frame forever) or a video (looped)."""

    def __init__(self, path: Path, size: tuple[int, int] | None = None):
        self.path = path
        self._size = size  # (width, height) to resize to, or None
        self._photo: np.ndarray | None = None
        self._video: cv2.VideoCapture | None = None
        if not path.is_file():
            raise ValueError(f'{path}: no such file')
        try:
            with PIL.Image.open(path) as photo:  # decoded as the reference outputs were
                self._photo = self._resized(np.asarray(photo.convert('RGB')))
            return
        except (PIL.UnidentifiedImageError, OSError):  # not a photo: try it as a video
            pass
        video = cv2.VideoCapture(str(path))
        ok, _ = video.read() if video.isOpened() else (False, None)
        if not ok:
            video.release()
            raise ValueError(
                f'{path}: neither a photo (JPEG, PNG, ...) nor a video OpenCV can read')
        video.set(cv2.CAP_PROP_POS_FRAMES, 0)
        self._video = video

    def is_photo(self) -> bool:
        return self._photo is not None

    def next_frame(self) -> np.ndarray:
        if self._photo is not None:
            return self._photo
        ok, bgr = self._video.read()
        if not ok:  # end of the video: start over
            self._video.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, bgr = self._video.read()
            if not ok:
                raise ValueError(f'{self.path}: cannot read frames any more')
        return self._resized(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))

    def _resized(self, rgb: np.ndarray) -> np.ndarray:
        if self._size is None or (rgb.shape[1], rgb.shape[0]) == self._size:
            return np.ascontiguousarray(rgb)
        return cv2.resize(rgb, self._size, interpolation=cv2.INTER_AREA)

    def close(self) -> None:
        if self._video is not None:
            self._video.release()


class ImagePublisher(Node):
    """Publishes the frames of a FrameSource at a fixed rate."""

    def __init__(self, source: FrameSource, rate_hz: float, frames: int = 0,
                 encoding: str = 'rgb8', frame_id: str = 'camera', compressed: bool = False,
                 **node_kwargs):
        super().__init__('posenet_image_publisher', **node_kwargs)
        self._source = source
        self._frames = frames
        self._encoding = encoding
        self._frame_id = frame_id
        self._compressed = compressed
        self.published = 0
        self._cached: Image | CompressedImage | None = None  # a photo is encoded only once
        if compressed:
            self._publisher = self.create_publisher(CompressedImage, 'image/compressed', IMAGE_QOS)
        else:
            self._publisher = self.create_publisher(Image, 'image', IMAGE_QOS)
        self._timer = self.create_timer(1.0 / rate_hz, self._publish)
        first = source.next_frame()
        self.get_logger().info(
            f'publishing {source.path.name} ({first.shape[1]}x{first.shape[0]}) on '
            f'{self._publisher.topic_name} at {rate_hz:g} Hz'
            + (f' for {frames} frames' if frames else ''))

    @property
    def done(self) -> bool:
        return bool(self._frames) and self.published >= self._frames

    def _publish(self) -> None:
        if self.done:
            return
        message = self._message()
        message.header.stamp = self.get_clock().now().to_msg()
        message.header.frame_id = self._frame_id
        self._publisher.publish(message)
        self.published += 1

    def _message(self):
        if self._cached is not None:
            return self._cached
        rgb = self._source.next_frame()
        if self._compressed:
            ok, jpeg = cv2.imencode('.jpg', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                                    [cv2.IMWRITE_JPEG_QUALITY, 90])
            if not ok:
                raise RuntimeError('OpenCV could not encode the frame as JPEG')
            message = CompressedImage(format='rgb8; jpeg compressed bgr8', data=jpeg.tobytes())
        else:
            message = rgb_to_image_msg(rgb, encoding=self._encoding)
        if self._source.is_photo():
            self._cached = message
        return message


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 640x480, got '{text}'")
    if not (1 <= width <= 8192 and 1 <= height <= 8192):
        raise argparse.ArgumentTypeError(f'{text}: each side must be 1 to 8192 pixels')
    return width, height


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='posenet_image_publisher',
        description='Stream a photo or a video as sensor_msgs/Image (or CompressedImage) at a '
                    'set rate, like a camera. ROS arguments go after --ros-args (e.g. remapping '
                    'image:=/camera/image_raw).')
    parser.add_argument('--source', type=Path, default=None,
                        help="photo or video file (default: matplotlib's grace_hopper.jpg)")
    parser.add_argument('--rate', type=positive_float, default=10.0, help='frames per second (10)')
    parser.add_argument('--frames', type=int, default=0,
                        help='stop after this many frames (default 0: run until Ctrl-C)')
    parser.add_argument('--encoding', choices=ENCODINGS, default='rgb8',
                        help='raw image encoding (rgb8)')
    parser.add_argument('--compressed', action='store_true',
                        help='publish JPEG on image/compressed instead of raw on image')
    parser.add_argument('--size', type=parse_size, default=None,
                        help='resize frames to WIDTHxHEIGHT (e.g. 640x480)')
    parser.add_argument('--frame-id', default='camera', help="header.frame_id ('camera')")
    return parser


def main(args: list[str] | None = None) -> int:
    argv = sys.argv if args is None else args
    options = build_parser().parse_args(remove_ros_args(argv)[1:])
    if options.frames < 0:
        build_parser().error('--frames must be 0 or more')
    try:
        source = FrameSource(options.source or default_photo(), options.size)
    except ValueError as error:
        print(f'posenet_image_publisher: {error}', file=sys.stderr)
        return 1
    node = None
    try:
        rclpy.init(args=argv)
        node = ImagePublisher(source, options.rate, options.frames, options.encoding,
                              options.frame_id, options.compressed)
        while rclpy.ok() and not node.done:
            rclpy.spin_once(node, timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        source.close()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
