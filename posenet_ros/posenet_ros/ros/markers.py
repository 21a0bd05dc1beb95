"""posenet_msgs/PoseArray -> visualization_msgs/MarkerArray, to see the poses in RViz.

PoseNet gives image pixels, not 3-D points, so each pose is drawn on the image plane laid out in
the camera's optical frame (header.frame_id: x right, y down, z forward along the optical axis):
pixel (u, v) goes to (u * pixel_size, v * pixel_size, 0), the top-left pixel at the frame's
origin. With the default pixel_size of 0.002 m a 640x480 image spans 1.28 m x 0.96 m.

Per pose (marker id = its index in the PoseArray) there is a SPHERE_LIST of joints in namespace
`posenet/joints` and a LINE_LIST of limbs in `posenet/skeleton`, each point coloured by its
keypoint score (red 0, yellow 0.5, green 1: `engine.drawing.score_colors`). Markers of poses that
vanished since the previous message are DELETEd, and every marker has a short lifetime so nothing
stale stays on screen when the node stops.
"""
from __future__ import annotations

from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from posenet_ros.engine.drawing import score_colors
from posenet_ros.engine.parts import SKELETON

JOINTS_NAMESPACE = 'posenet/joints'
SKELETON_NAMESPACE = 'posenet/skeleton'
DEFAULT_PIXEL_SIZE = 0.002     # metres per image pixel on the drawn image plane
DEFAULT_LIFETIME = 0.5         # seconds a marker stays when no newer one replaces it
DEFAULT_JOINT_DIAMETER_PX = 8  # sphere diameter, in image pixels
DEFAULT_LINE_WIDTH_PX = 3      # limb width, in image pixels


def to_marker_array(pose_array, min_keypoint_score: float = 0.1,
                    pixel_size: float = DEFAULT_PIXEL_SIZE, lifetime: float = DEFAULT_LIFETIME,
                    previous_count: int = 0, joint_diameter_px: float = DEFAULT_JOINT_DIAMETER_PX,
                    line_width_px: float = DEFAULT_LINE_WIDTH_PX) -> MarkerArray:
    """Joint and limb markers for every pose of `pose_array`, stamped with its header.

    Keypoints scoring below `min_keypoint_score` are not drawn, nor limbs touching them; a pose
    with nothing left to draw gets a DELETE for that marker instead of an empty one. Ids from
    len(poses) up to `previous_count` (how many poses the last MarkerArray drew) are DELETEd.
    `pixel_size` is metres per pixel (see the module docstring); `lifetime` is in seconds.
    """
    if pixel_size <= 0:
        raise ValueError(f'pixel_size must be positive metres per pixel, got {pixel_size}')
    if lifetime < 0:
        raise ValueError(f'lifetime must be >= 0 seconds (0 = forever), got {lifetime}')
    header = pose_array.header
    seconds, nanoseconds = divmod(round(lifetime * 1e9), 1_000_000_000)
    life = Duration(sec=int(seconds), nanosec=int(nanoseconds))
    joint_size = float(joint_diameter_px * pixel_size)
    line_size = float(line_width_px * pixel_size)
    markers = []
    for index, pose in enumerate(pose_array.poses):
        keypoints = pose.keypoints
        scores = [keypoint.score for keypoint in keypoints]
        shown = [score >= min_keypoint_score for score in scores]
        joints = [part for part, visible in enumerate(shown) if visible]
        rgb = score_colors(scores).tolist()
        points, colors = {}, {}  # shared by both markers of the pose
        for part in joints:
            keypoint = keypoints[part]
            points[part] = Point(x=keypoint.x * pixel_size, y=keypoint.y * pixel_size, z=0.0)
            colors[part] = ColorRGBA(r=rgb[part][0], g=rgb[part][1], b=rgb[part][2], a=1.0)
        limb_ends = [part for a, b in SKELETON if shown[a] and shown[b] for part in (a, b)]
        for namespace, marker_type, size, parts in (
                (JOINTS_NAMESPACE, Marker.SPHERE_LIST, joint_size, joints),
                (SKELETON_NAMESPACE, Marker.LINE_LIST, line_size, limb_ends)):
            if not parts:
                markers.append(_delete(header, namespace, index))
                continue
            marker = Marker(header=header, ns=namespace, id=index, type=marker_type,
                            action=Marker.ADD, lifetime=life, frame_locked=False)
            marker.pose.orientation.w = 1.0
            marker.scale.x = marker.scale.y = marker.scale.z = size
            marker.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)  # per-point colours override it
            marker.points = [points[part] for part in parts]
            marker.colors = [colors[part] for part in parts]
            markers.append(marker)
    for index in range(len(pose_array.poses), previous_count):
        markers.append(_delete(header, JOINTS_NAMESPACE, index))
        markers.append(_delete(header, SKELETON_NAMESPACE, index))
    return MarkerArray(markers=markers)


class PoseMarkerBuilder:
    """Builds MarkerArrays for successive PoseArrays, deleting the markers of vanished poses."""

    def __init__(self, min_keypoint_score: float = 0.1, pixel_size: float = DEFAULT_PIXEL_SIZE,
                 lifetime: float = DEFAULT_LIFETIME,
                 joint_diameter_px: float = DEFAULT_JOINT_DIAMETER_PX,
                 line_width_px: float = DEFAULT_LINE_WIDTH_PX):
        self.min_keypoint_score = min_keypoint_score
        self.pixel_size = pixel_size
        self.lifetime = lifetime
        self.joint_diameter_px = joint_diameter_px
        self.line_width_px = line_width_px
        self.previous_count = 0  # poses drawn by the last MarkerArray built

    def build(self, pose_array) -> MarkerArray:
        """Markers for `pose_array`, plus DELETEs for poses the previous call drew and it lacks."""
        markers = to_marker_array(
            pose_array, min_keypoint_score=self.min_keypoint_score, pixel_size=self.pixel_size,
            lifetime=self.lifetime, previous_count=self.previous_count,
            joint_diameter_px=self.joint_diameter_px, line_width_px=self.line_width_px)
        self.previous_count = len(pose_array.poses)
        return markers


def _delete(header, namespace: str, marker_id: int) -> Marker:
    return Marker(header=header, ns=namespace, id=marker_id, action=Marker.DELETE)
