"""posenet_node: camera images in, posenet_msgs/PoseArray out.

Topics (relative, so namespaces and remapping work as usual):
  image (sensor_msgs/Image), or image/compressed (sensor_msgs/CompressedImage) with
      use_compressed: the input, sensor-data QoS (best effort) unless overridden with the
      standard qos_overrides parameters.
  poses (posenet_msgs/PoseArray, reliable, depth 10): one message per processed frame, also
      when no one is found.
  poses/markers (visualization_msgs/MarkerArray), poses/image (sensor_msgs/Image): only
      computed while someone subscribes (and publish_markers / publish_image are true).

Only the newest frame is processed: a worker thread takes it straight from the subscription
(keep last 1; see frame_reader), converts, estimates and publishes. Inference never runs on the
executor, so parameter changes are taken while a frame is being processed.
"""
from __future__ import annotations

import faulthandler
import os
import signal
import sys
import threading
import time

import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CompressedImage, Image
from visualization_msgs.msg import MarkerArray

from posenet_msgs.msg import PoseArray
from posenet_ros.engine.drawing import draw_poses
from posenet_ros.ros.frame_reader import NewestFrameReader
from posenet_ros.ros.frame_worker import FrameWorker
from posenet_ros.ros.image_conversion import (
    ImageConversionError, compressed_to_rgb, image_to_rgb, rgb_to_image_msg)
from posenet_ros.ros.markers import PoseMarkerBuilder
from posenet_ros.ros.messages import to_pose_array
from posenet_ros.ros.parameter_guard import guard_parameter_services
from posenet_ros.ros.parameters import LiveSettings, PoseNetParameters, describe_config
from posenet_ros.ros.rate_limited_log import RateLimitedLog

NODE_NAME = 'posenet_node'
# Sensor data (best effort, volatile) keeping only the newest frame: older ones are never used.
IMAGE_QOS = QoSProfile(depth=1, reliability=qos_profile_sensor_data.reliability,
                       history=HistoryPolicy.KEEP_LAST,
                       durability=qos_profile_sensor_data.durability)
POSES_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                       history=HistoryPolicy.KEEP_LAST)
# Visualization: reliable (so RViz's default subscriptions match) and only the latest.
VISUALIZATION_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                               history=HistoryPolicy.KEEP_LAST)
STATS_PERIOD_S = 5.0  # how often dropped frames are reported, and the bad-input log rate
WATCHDOG_PERIOD_S = 1.0
# A frame still in progress after this long, while frames arrive, means the worker is stuck.
STUCK_FRAME_S = 30.0


class PoseNetNode(Node):
    """Subscribes to camera images, runs PoseNet on the newest one, publishes the poses."""

    def __init__(self, **node_kwargs):
        super().__init__(NODE_NAME, **node_kwargs)
        guard_parameter_services(self)  # a malformed set_parameters request must not end the node
        self.parameters = PoseNetParameters(self)
        startup = self.parameters.startup
        # TensorFlow loads here (seconds). A Ctrl-C meanwhile shuts the context down (rclpy's
        # handler); each slow step is followed by a check so that the node stops right away.
        from posenet_ros.engine.estimator import PoseEstimator
        self._raise_if_interrupted()
        self.estimator = PoseEstimator(startup.model, multiplier=startup.multiplier,
                                       device=startup.device, backend=startup.backend)
        snapping = self.parameters.start(self.estimator.multiplier, self._on_settings_changed)
        if snapping:
            self.get_logger().info(snapping)
        settings = self.parameters.live
        self._raise_if_interrupted()
        self.estimator.warmup(settings.config)
        self._raise_if_interrupted()

        self._bad_input_log = RateLimitedLog(self.get_logger().warning)
        self._failure_log = RateLimitedLog(self.get_logger().error)
        self._markers = PoseMarkerBuilder(settings.min_keypoint_score, settings.marker_pixel_size)
        self._stats_received = self._stats_dropped = 0
        self._stopping = threading.Event()

        self._poses_pub = self.create_publisher(
            PoseArray, 'poses', POSES_QOS,
            qos_overriding_options=QoSOverridingOptions.with_default_policies())
        self._markers_pub = self.create_publisher(MarkerArray, 'poses/markers', VISUALIZATION_QOS)
        self._image_pub = self.create_publisher(Image, 'poses/image', VISUALIZATION_QOS)
        if startup.use_compressed:
            message_type, topic, self._convert = CompressedImage, 'image/compressed', compressed_to_rgb
        else:
            message_type, topic, self._convert = Image, 'image', image_to_rgb
        self._frames = NewestFrameReader(
            self, message_type, topic, IMAGE_QOS,
            qos_overriding_options=QoSOverridingOptions.with_default_policies())
        self._input_topic = self._frames.topic_name
        self._stats_timer = self.create_timer(STATS_PERIOD_S, self._report_drops)

        self._worker = FrameWorker(self._frames, self._process, self._on_worker_error)
        self._worker.start()
        self._watchdog_received = 0
        self._watchdog_timer = self.create_timer(WATCHDOG_PERIOD_S, self._watch_worker)
        self.get_logger().info(
            f'PoseNet {self.estimator.model_name} (multiplier {self.estimator.multiplier:g}, '
            f'{self.estimator.model_path}) on {self.estimator.device} with the '
            f'{self.estimator.backend} backend; {describe_config(settings)}; listening on '
            f'{self._input_topic}, publishing {self._poses_pub.topic_name}')

    # -- frames ------------------------------------------------------------------------------

    def _process(self, message) -> None:
        """One frame: convert, estimate, publish. A bad frame is logged by cause and skipped."""
        settings = self.parameters.live  # one consistent snapshot for this frame
        try:
            rgb = self._convert(message)
        except ImageConversionError as error:
            self._bad_input_log(f'skipping a frame from {self._input_topic}: {error}')
            return
        except Exception as error:  # noqa: BLE001 - e.g. cv2.error on a corrupt image: the input's fault
            self._bad_input_log(f'skipping a frame from {self._input_topic} that could not be '
                                f'converted: {type(error).__name__}: {error}')
            return
        result = self.estimator.estimate(rgb, settings.config)
        pose_array = to_pose_array(result, message.header, settings.min_pose_score)
        self._poses_pub.publish(pose_array)
        self._publish_visualization(rgb, result, pose_array, message.header, settings)

    def _on_worker_error(self, error: BaseException, stage: str) -> None:
        """Whatever a frame raised (the worker goes on with the next frame)."""
        if self._stopping.is_set() or not self.context.ok():
            return  # shutting down: publishers may already be gone
        what = 'take a frame from' if stage == 'take' else 'process a frame from'
        self._failure_log(f'could not {what} {self._input_topic}: {type(error).__name__}: {error}')

    def _watch_worker(self) -> None:
        """Restart the worker if it died, or if it is stuck in one frame while frames arrive."""
        if self._stopping.is_set():
            return
        received, _ = self._frames.counts()
        frames_arrived = received != self._watchdog_received
        self._watchdog_received = received
        if not self._worker.alive:
            self.get_logger().error('the frame worker thread has ended unexpectedly; restarting it')
            self._worker.restart()
        elif frames_arrived and self._worker.seconds_in_frame() > STUCK_FRAME_S:
            self.get_logger().error(
                f'the frame worker has been on one frame for more than {STUCK_FRAME_S:g} s while '
                'frames arrive; starting a new worker thread')
            self._worker.restart()

    def _publish_visualization(self, rgb, result, pose_array, header,
                               settings: LiveSettings) -> None:
        if settings.publish_markers and self._markers_pub.get_subscription_count() > 0:
            self._markers.min_keypoint_score = settings.min_keypoint_score
            self._markers.pixel_size = settings.marker_pixel_size
            self._markers_pub.publish(self._markers.build(pose_array))
        if settings.publish_image and self._image_pub.get_subscription_count() > 0:
            drawn = draw_poses(rgb, result.poses, settings.min_pose_score,
                               settings.min_keypoint_score)
            self._image_pub.publish(rgb_to_image_msg(drawn, header))

    def _report_drops(self) -> None:
        received, dropped = self._frames.counts()
        new_received = received - self._stats_received
        new_dropped = dropped - self._stats_dropped
        self._stats_received, self._stats_dropped = received, dropped
        if new_dropped:
            self.get_logger().info(
                f'dropped {new_dropped} of {new_received} frames in the last {STATS_PERIOD_S:g} s '
                '(frames came faster than they were processed and only the newest is kept, or '
                'were lost on the way; counted from the publishers\' sequence numbers)')

    def _on_settings_changed(self, settings: LiveSettings, note: str) -> None:
        self.get_logger().info(f'now using {describe_config(settings)}' + (f'; {note}' if note else ''))

    # -- life cycle --------------------------------------------------------------------------

    def _raise_if_interrupted(self) -> None:
        if not self.context.ok():
            raise KeyboardInterrupt

    def stop(self) -> None:
        """Stop taking frames and wait for the frame in progress (called before destroy_node)."""
        if not hasattr(self, '_worker'):
            return  # interrupted before it started
        self._stopping.set()
        self._worker.stop()


def main(args=None) -> int:
    """Entry point of `posenet_node`: exit code 0 on Ctrl-C, 1 with one clear line on bad setup."""
    node = None
    # Quiet TensorFlow's C++ chatter unless the user asked for it (TensorFlow loads later).
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    # `kill -USR1 <pid>` prints every thread's stack to stderr: a hang can be diagnosed live.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        rclpy.init(args=args)
        node = PoseNetNode()
        if rclpy.ok():
            rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (ValueError, ParameterException, FileNotFoundError) as error:
        if not _interrupted():
            # Bad parameters, device or weights; ModelNotFoundError says where it looked.
            prefix = '' if isinstance(error, FileNotFoundError) else 'cannot start: '
            _fail(f'{prefix}{error}')
            return 1
    except Exception:
        if not _interrupted():
            raise  # a bug: keep its traceback
        # Ctrl-C during start-up: rclpy's signal handler shut the context down under our feet.
    finally:
        if node is not None:
            node.stop()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


def _interrupted() -> bool:
    """Whether rclpy's SIGINT/SIGTERM handler has shut the context down."""
    try:
        return not rclpy.ok()
    except Exception:  # noqa: BLE001 - rclpy never initialised
        return False


def _fail(message: str) -> None:
    print(f'[{NODE_NAME}] ERROR: {message}', file=sys.stderr, flush=True)


if __name__ == '__main__':
    sys.exit(main())
