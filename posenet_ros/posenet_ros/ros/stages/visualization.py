"""
Stage: markers and the annotated image, computed only while someone subscribes.

Both show what `poses` carries: the published people (smoothed where smoothing is on), in 3D
where they have positions, coloured and labelled by track id where tracked. Markers last a
little longer than the time between frames (at least `DEFAULT_LIFETIME`): RViz counts a
lifetime from when it receives the marker, so a node running under 2 frames a second would
otherwise make them blink out between frames.
"""
from __future__ import annotations

from posenet_msgs.msg import PoseArray
from posenet_ros.engine.drawing import draw_poses
from posenet_ros.ros.image_conversion import rgb_to_image_msg
from posenet_ros.ros.markers import DEFAULT_LIFETIME, PoseMarkerBuilder
from posenet_ros.ros.pipeline import Frame
from rclpy.serialization import deserialize_message


LIFETIME_FRAMES = 2.5  # marker lifetime in frame intervals
MAX_LIFETIME_S = 10.0


def marker_lifetime(frame_interval_s: float | None) -> float:
    """Return the markers' lifetime (s) for frames this far apart (None: not known yet)."""
    if frame_interval_s is None:
        return DEFAULT_LIFETIME
    return min(max(DEFAULT_LIFETIME, LIFETIME_FRAMES * frame_interval_s), MAX_LIFETIME_S)


class FrameInterval:
    """The time between frames as taken: averaged, but a longer gap counts at once."""

    def __init__(self):
        self._last_s: float | None = None
        self.seconds: float | None = None  # None until two frames were seen

    def update(self, received_s: float) -> None:
        last, self._last_s = self._last_s, received_s
        if last is None or received_s <= last:
            return
        interval = received_s - last
        self.seconds = interval if self.seconds is None else max(
            interval, 0.8 * self.seconds + 0.2 * interval)


class VisualizationStage:
    """poses/markers (MarkerArray) and poses/image (the frame with the skeletons drawn)."""

    optional = True  # after the poses are out: a failure here costs only the drawing

    def __init__(self, markers_publisher, image_publisher):
        self._markers_pub = markers_publisher
        self._image_pub = image_publisher
        self._markers = PoseMarkerBuilder()
        self._interval = FrameInterval()

    def __call__(self, frame: Frame) -> None:
        self._interval.update(frame.received_s)
        settings = frame.settings
        if settings.publish_markers and self._markers_pub.get_subscription_count() > 0:
            self._markers.min_keypoint_score = settings.min_keypoint_score
            self._markers.pixel_size = settings.marker_pixel_size
            self._markers.lifetime = marker_lifetime(self._interval.seconds)
            pose_array = frame.pose_array
            if isinstance(pose_array, bytes):  # published as its serialized form
                pose_array = deserialize_message(pose_array, PoseArray)
            self._markers_pub.publish(self._markers.build(pose_array, frame.header.frame_id))
        if settings.publish_image and self._image_pub.get_subscription_count() > 0:
            people = frame.people
            drawn = draw_poses(frame.rgb, people.poses(), 0.0, settings.min_keypoint_score,
                               track_ids=people.track_ids if settings.tracking else None,
                               flip_horizontal=settings.config.flip_horizontal)
            self._image_pub.publish(rgb_to_image_msg(drawn, frame.header))
