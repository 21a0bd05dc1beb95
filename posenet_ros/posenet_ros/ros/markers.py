"""
posenet_msgs/PoseArray -> visualization_msgs/MarkerArray, to see the poses in RViz.

A pose whose keypoints have positions (use_depth) is drawn where the person is, in metres in
header.frame_id: joints at Keypoint.position, limbs between them. Without positions PoseNet
gives only image pixels, and the pose is drawn on the image plane laid out in the camera's
optical frame (x right, y down, z forward along the optical axis): pixel (u, v) goes to
(u * pixel_size, v * pixel_size, 0), the top-left pixel at the frame's origin. With the default
pixel_size of 0.002 m a 640x480 image spans 1.28 m x 0.96 m. With `target_frame` the PoseArray's
frame is not the camera's: the image plane is then stamped with the camera's frame
(`image_frame_id`), and labels go above people along z (REP 103's up) rather than along -y.

Per pose (marker id = its index in the PoseArray) there is a SPHERE_LIST of joints in namespace
`posenet/joints`, coloured by keypoint score (red 0, yellow 0.5, green 1:
`engine.drawing.score_colors`), and a LINE_LIST of limbs in `posenet/skeleton`, coloured by
score or, for a tracked pose (Pose.id > 0), in the colour of its track (`engine.drawing.
track_color`, as in poses/image); a tracked pose also gets a TEXT_VIEW_FACING label "#id" above
it in `posenet/labels`. Markers of poses that vanished since the previous message are DELETEd,
and every marker has a short lifetime so nothing stale stays on screen when the node stops.
"""
from __future__ import annotations

from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point
from posenet_ros.engine.drawing import score_colors, track_color
from posenet_ros.engine.parts import SKELETON
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

JOINTS_NAMESPACE = 'posenet/joints'
SKELETON_NAMESPACE = 'posenet/skeleton'
LABELS_NAMESPACE = 'posenet/labels'
JOINT_DIAMETER_M = 0.06        # with positions: sphere diameter, metres
LINE_WIDTH_M = 0.025           # with positions: limb width, metres
LABEL_HEIGHT_M = 0.12          # with positions: text height, metres (image plane: 20 pixels)
DEFAULT_PIXEL_SIZE = 0.002     # metres per image pixel on the drawn image plane
DEFAULT_LIFETIME = 0.5         # seconds a marker stays when no newer one replaces it
DEFAULT_JOINT_DIAMETER_PX = 8  # sphere diameter, in image pixels
DEFAULT_LINE_WIDTH_PX = 3      # limb width, in image pixels


def to_marker_array(pose_array, min_keypoint_score: float = 0.1,
                    pixel_size: float = DEFAULT_PIXEL_SIZE, lifetime: float = DEFAULT_LIFETIME,
                    previous_count: int = 0, joint_diameter_px: float = DEFAULT_JOINT_DIAMETER_PX,
                    line_width_px: float = DEFAULT_LINE_WIDTH_PX,
                    previous_labels=(), image_frame_id: str | None = None) -> MarkerArray:
    """
    Joint and limb markers for every pose of `pose_array`, stamped with its header.

    Keypoints scoring below `min_keypoint_score` are not drawn, nor limbs touching them; a pose
    with nothing left to draw gets a DELETE for that marker instead of an empty one. Ids from
    len(poses) up to `previous_count` (how many poses the last MarkerArray drew) are DELETEd, and
    so are the labels of `previous_labels` (pose indices the last MarkerArray labelled) that this
    one does not label.
    `pixel_size` is metres per pixel (see the module docstring); `lifetime` is in seconds.
    `image_frame_id`: the camera's optical frame, where it is not header.frame_id (target_frame).
    """
    if pixel_size <= 0:
        raise ValueError(f'pixel_size must be positive metres per pixel, got {pixel_size}')
    if lifetime < 0:
        raise ValueError(f'lifetime must be >= 0 seconds (0 = forever), got {lifetime}')
    header = pose_array.header
    optical = image_frame_id in (None, header.frame_id)  # positions in the camera's frame
    image_header = header if optical else Header(stamp=header.stamp, frame_id=image_frame_id)
    seconds, nanoseconds = divmod(round(lifetime * 1e9), 1_000_000_000)
    life = Duration(sec=int(seconds), nanosec=int(nanoseconds))
    markers = []
    labelled = set()
    for index, pose in enumerate(pose_array.poses):
        keypoints = pose.keypoints
        scores = [keypoint.score for keypoint in keypoints]
        in_3d = any(keypoint.has_position for keypoint in keypoints)
        shown = [score >= min_keypoint_score and (keypoint.has_position or not in_3d)
                 for score, keypoint in zip(scores, keypoints)]
        joints = [part for part, visible in enumerate(shown) if visible]
        rgb = score_colors(scores).tolist()
        pose_header = header if in_3d else image_header
        if in_3d:
            joint_size, line_size, label_size = JOINT_DIAMETER_M, LINE_WIDTH_M, LABEL_HEIGHT_M
        else:
            joint_size = float(joint_diameter_px * pixel_size)
            line_size = float(line_width_px * pixel_size)
            label_size = float(20 * pixel_size)
        points, colors = {}, {}  # shared by both markers of the pose
        for part in joints:
            keypoint = keypoints[part]
            if in_3d:
                points[part] = Point(x=keypoint.position.x, y=keypoint.position.y,
                                     z=keypoint.position.z)
            else:
                points[part] = Point(x=keypoint.x * pixel_size, y=keypoint.y * pixel_size, z=0.0)
            colors[part] = ColorRGBA(r=rgb[part][0], g=rgb[part][1], b=rgb[part][2], a=1.0)
        track = int(pose.id)
        if track > 0:
            limb_rgb = [c / 255.0 for c in track_color(track)]
            limb_color = ColorRGBA(r=limb_rgb[0], g=limb_rgb[1], b=limb_rgb[2], a=1.0)
        limb_ends = [part for a, b in SKELETON if shown[a] and shown[b] for part in (a, b)]
        for namespace, marker_type, size, parts in (
                (JOINTS_NAMESPACE, Marker.SPHERE_LIST, joint_size, joints),
                (SKELETON_NAMESPACE, Marker.LINE_LIST, line_size, limb_ends)):
            if not parts:
                markers.append(_delete(header, namespace, index))
                continue
            marker = Marker(header=pose_header, ns=namespace, id=index, type=marker_type,
                            action=Marker.ADD, lifetime=life, frame_locked=False)
            marker.pose.orientation.w = 1.0
            marker.scale.x = marker.scale.y = marker.scale.z = size
            marker.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)  # per-point colours override it
            marker.points = [points[part] for part in parts]
            if namespace == SKELETON_NAMESPACE and track > 0:
                marker.colors = [limb_color] * len(parts)
            else:
                marker.colors = [colors[part] for part in parts]
            markers.append(marker)
        if track > 0 and joints:
            label = Marker(header=pose_header, ns=LABELS_NAMESPACE, id=index,
                           type=Marker.TEXT_VIEW_FACING, action=Marker.ADD, lifetime=life,
                           text=f'#{track}', color=limb_color)
            if in_3d and not optical:  # z up (REP 103)
                top = max((points[part] for part in joints), key=lambda point: point.z)
                label.pose.position = Point(x=top.x, y=top.y, z=top.z + 1.5 * label_size)
            else:  # the optical frame and the image plane: y down
                top = min((points[part] for part in joints), key=lambda point: point.y)
                label.pose.position = Point(x=top.x, y=top.y - 1.5 * label_size, z=top.z)
            label.pose.orientation.w = 1.0
            label.scale.z = label_size
            markers.append(label)
            labelled.add(index)
    for index in range(len(pose_array.poses), previous_count):
        markers.append(_delete(header, JOINTS_NAMESPACE, index))
        markers.append(_delete(header, SKELETON_NAMESPACE, index))
    for index in sorted(set(previous_labels) - labelled):
        markers.append(_delete(header, LABELS_NAMESPACE, index))
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
        self.previous_labels: frozenset = frozenset()  # pose indices it labelled

    def build(self, pose_array, image_frame_id: str | None = None) -> MarkerArray:
        """
        Markers for `pose_array`, plus DELETEs for poses the previous call drew and it lacks.

        `image_frame_id`: the camera's frame, as for `to_marker_array`.
        """
        markers = to_marker_array(
            pose_array, min_keypoint_score=self.min_keypoint_score, pixel_size=self.pixel_size,
            lifetime=self.lifetime, previous_count=self.previous_count,
            joint_diameter_px=self.joint_diameter_px, line_width_px=self.line_width_px,
            previous_labels=self.previous_labels, image_frame_id=image_frame_id)
        self.previous_count = len(pose_array.poses)
        self.previous_labels = frozenset(marker.id for marker in markers.markers
                                         if marker.ns == LABELS_NAMESPACE
                                         and marker.action == Marker.ADD)
        return markers


def _delete(header, namespace: str, marker_id: int) -> Marker:
    return Marker(header=header, ns=namespace, id=marker_id, action=Marker.DELETE)
