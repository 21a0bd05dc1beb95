"""
Stage: markers and the annotated image, computed only while someone subscribes.

Both show what `poses` carries: the published people (smoothed where smoothing is on), in 3D
where they have positions, coloured and labelled by track id where tracked.
"""
from __future__ import annotations

from posenet_msgs.msg import PoseArray
from posenet_ros.engine.drawing import draw_poses
from posenet_ros.ros.image_conversion import rgb_to_image_msg
from posenet_ros.ros.markers import PoseMarkerBuilder
from posenet_ros.ros.pipeline import Frame
from rclpy.serialization import deserialize_message


class VisualizationStage:
    """poses/markers (MarkerArray) and poses/image (the frame with the skeletons drawn)."""

    optional = True  # after the poses are out: a failure here costs only the drawing

    def __init__(self, markers_publisher, image_publisher):
        self._markers_pub = markers_publisher
        self._image_pub = image_publisher
        self._markers = PoseMarkerBuilder()

    def __call__(self, frame: Frame) -> None:
        settings = frame.settings
        if settings.publish_markers and self._markers_pub.get_subscription_count() > 0:
            self._markers.min_keypoint_score = settings.min_keypoint_score
            self._markers.pixel_size = settings.marker_pixel_size
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
