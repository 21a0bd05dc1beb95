"""PoseArray -> RViz MarkerArray: counts, ids, namespaces, DELETEs, colours, positions."""
from __future__ import annotations

import json
import timeit

from builtin_interfaces.msg import Time
import numpy as np
from posenet_ros.engine.drawing import track_color
from posenet_ros.engine.parts import SKELETON
from posenet_ros.engine.types import EstimateResult, Pose
from posenet_ros.ros.markers import (DEFAULT_LIFETIME, DEFAULT_PIXEL_SIZE, JOINT_DIAMETER_M,
                                     JOINTS_NAMESPACE, LABELS_NAMESPACE, PoseMarkerBuilder,
                                     SKELETON_NAMESPACE, to_marker_array)
from posenet_ros.ros.messages import to_pose_array
from posenet_ros.ros.stages.visualization import FrameInterval, marker_lifetime
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from std_msgs.msg import Header
from visualization_msgs.msg import Marker, MarkerArray

REFERENCE = 'smoke/mobilenet_quant2_075_s16_r353x481_multi_demo.json'


@pytest.fixture(scope='module')
def pose_arrays(reference_path) -> dict:
    """Return PoseArrays of the original PoseNet's poses on the smoke photos, by photo name."""
    document = json.loads((reference_path / REFERENCE).read_text())
    arrays = {}
    for record in document['results']:
        poses = [Pose(score=pose['score'],
                      keypoint_scores=np.array([k['score'] for k in pose['keypoints']]),
                      keypoint_coords=np.array([[k['x'], k['y']] for k in pose['keypoints']]))
                 for pose in record['poses']]
        result = EstimateResult(poses=poses, image_height=record['height'],
                                image_width=record['width'], input_height=353, input_width=481,
                                output_stride=16)
        header = Header(stamp=Time(sec=42, nanosec=500), frame_id='camera_optical_frame')
        arrays[record['id']] = to_pose_array(result, header)
    return arrays


def by_key(markers: MarkerArray) -> dict:
    keys = [(m.ns, m.id) for m in markers.markers]
    assert len(keys) == len(set(keys)), 'a (namespace, id) appears twice in one MarkerArray'
    return {(m.ns, m.id): m for m in markers.markers}


def test_one_joint_and_one_limb_marker_per_pose(pose_arrays):
    pose_array = pose_arrays['zidane']
    markers = by_key(to_marker_array(pose_array, min_keypoint_score=0.1))
    assert len(markers) == 2 * len(pose_array.poses)
    for index, pose in enumerate(pose_array.poses):
        shown = [k.score >= 0.1 for k in pose.keypoints]
        joints = markers[(JOINTS_NAMESPACE, index)]
        limbs = markers[(SKELETON_NAMESPACE, index)]
        for marker in (joints, limbs):
            assert marker.header.frame_id == 'camera_optical_frame'
            assert (marker.header.stamp.sec, marker.header.stamp.nanosec) == (42, 500)
        if any(shown):
            assert joints.action == Marker.ADD and joints.type == Marker.SPHERE_LIST
            assert len(joints.points) == len(joints.colors) == sum(shown)
            expected = [(k.x * DEFAULT_PIXEL_SIZE, k.y * DEFAULT_PIXEL_SIZE)
                        for k in pose.keypoints if k.score >= 0.1]
            np.testing.assert_allclose([(p.x, p.y) for p in joints.points], expected)
            assert all(p.z == 0.0 for p in joints.points)
            assert joints.pose.orientation.w == 1.0 and joints.scale.x > 0
            assert 0.2 <= joints.lifetime.sec + joints.lifetime.nanosec * 1e-9 <= 0.5
        else:
            assert joints.action == Marker.DELETE
        drawn_limbs = sum(shown[a] and shown[b] for a, b in SKELETON)
        if drawn_limbs:
            assert limbs.action == Marker.ADD and limbs.type == Marker.LINE_LIST
            assert len(limbs.points) == len(limbs.colors) == 2 * drawn_limbs
            assert limbs.scale.x > 0
        else:
            assert limbs.action == Marker.DELETE
    assert any(m.action == Marker.ADD for m in markers.values())


def test_colours_go_from_red_to_green_with_the_score(pose_arrays):
    pose_array = pose_arrays['coco_val2017_000000005001']
    markers = to_marker_array(pose_array, min_keypoint_score=0.0)
    for index, pose in enumerate(pose_array.poses):
        joints = by_key(markers)[(JOINTS_NAMESPACE, index)]
        scores = np.array([k.score for k in pose.keypoints])
        rgba = np.array([(c.r, c.g, c.b, c.a) for c in joints.colors])
        assert rgba.min() >= 0.0 and rgba.max() <= 1.0 and (rgba[:, 3] == 1.0).all()
        order = np.argsort(scores)
        assert (np.diff(rgba[order, 1]) >= -1e-6).all(), 'green must grow with the score'
        assert (np.diff(rgba[order, 0]) <= 1e-6).all(), 'red must shrink with the score'
        strong, weak = scores.argmax(), scores.argmin()
        if scores[strong] > 0.9 and scores[weak] < 0.2:
            assert rgba[strong, 1] > rgba[strong, 0] and rgba[weak, 0] > rgba[weak, 1]


def test_pixel_size_scales_positions_and_sizes(pose_arrays):
    pose_array = pose_arrays['bus']
    small = by_key(to_marker_array(pose_array, pixel_size=0.001))
    large = by_key(to_marker_array(pose_array, pixel_size=0.004))
    for key, marker in small.items():
        if marker.action == Marker.ADD:
            np.testing.assert_allclose([(p.x, p.y) for p in large[key].points],
                                       [(4 * p.x, 4 * p.y) for p in marker.points])
            assert large[key].scale.x == pytest.approx(4 * marker.scale.x)
    with pytest.raises(ValueError, match='pixel_size must be positive'):
        to_marker_array(pose_array, pixel_size=0.0)


def test_vanished_poses_are_deleted(pose_arrays):
    ten = pose_arrays['zidane']
    three = type(ten)(header=ten.header, image_width=ten.image_width,
                      image_height=ten.image_height, poses=ten.poses[:3])
    empty = type(ten)(header=ten.header, image_width=ten.image_width,
                      image_height=ten.image_height, poses=[])
    builder = PoseMarkerBuilder(min_keypoint_score=0.1)
    assert len(builder.build(ten).markers) == 20

    after = by_key(builder.build(three))
    for index in range(3, 10):
        for namespace in (JOINTS_NAMESPACE, SKELETON_NAMESPACE):
            marker = after[(namespace, index)]
            assert marker.action == Marker.DELETE
            assert marker.header.frame_id == 'camera_optical_frame'
    assert len(after) == 20

    again = by_key(builder.build(three))
    assert len(again) == 6 and max(index for _, index in again) == 2

    cleared = by_key(builder.build(empty))
    assert sorted(cleared) == sorted((ns, i) for ns in (JOINTS_NAMESPACE, SKELETON_NAMESPACE)
                                     for i in range(3))
    assert all(m.action == Marker.DELETE for m in cleared.values())
    assert builder.build(empty).markers == []


def test_a_pose_with_nothing_to_draw_deletes_rather_than_sends_empty_markers(pose_arrays):
    markers = to_marker_array(pose_arrays['zidane'], min_keypoint_score=1.01)
    assert markers.markers and all(m.action == Marker.DELETE for m in markers.markers)
    assert all(not m.points for m in markers.markers)


def test_marker_array_serializes(pose_arrays):
    markers = to_marker_array(pose_arrays['coco_val2017_000000184324'])
    back = deserialize_message(serialize_message(markers), MarkerArray)
    assert len(back.markers) == len(markers.markers)
    first = next(m for m in back.markers if m.action == Marker.ADD)
    assert first.ns in (JOINTS_NAMESPACE, SKELETON_NAMESPACE) and first.points


def test_building_markers_for_ten_poses_is_cheap(pose_arrays):
    """Prints the cost for 10 poses (no timing assertion: shared machines vary)."""
    builder = PoseMarkerBuilder()
    pose_array = pose_arrays['coco_val2017_000000005001']
    assert len(pose_array.poses) == 10
    runs = 50
    seconds = min(timeit.repeat(lambda: builder.build(pose_array), number=runs, repeat=3))
    print(f'\nPoseMarkerBuilder.build, 10 poses: {seconds / runs * 1e3:.3f} ms')


def copied(message):
    return deserialize_message(serialize_message(message), type(message))


def test_poses_with_positions_are_drawn_where_the_person_is(pose_arrays):
    pose_array = copied(next(iter(pose_arrays.values())))
    pose = pose_array.poses[0]
    placed = [k.part for k in pose.keypoints if k.score >= 0.1][:6]
    for part in placed:  # 3 m in front of the camera, 0.1 m apart
        keypoint = pose.keypoints[part]
        keypoint.position.x, keypoint.position.y, keypoint.position.z = 0.1 * part, -0.2, 3.0
        keypoint.has_position = True
    markers = by_key(to_marker_array(pose_array, min_keypoint_score=0.1))
    joints = markers[(JOINTS_NAMESPACE, 0)]
    # Only the keypoints with a position, at their position, sized in metres.
    assert [(p.x, p.y, p.z) for p in joints.points] == [(0.1 * part, -0.2, 3.0) for part in placed]
    assert joints.scale.x == pytest.approx(JOINT_DIAMETER_M)
    # The other poses have no positions: still on the image plane (z = 0).
    other = markers[(JOINTS_NAMESPACE, 1)]
    assert all(p.z == 0.0 for p in other.points)


def test_a_tracked_pose_is_labelled_and_coloured_by_its_track(pose_arrays):
    pose_array = copied(next(iter(pose_arrays.values())))
    pose_array.poses[0].id = 7
    builder = PoseMarkerBuilder()
    markers = by_key(builder.build(pose_array))
    label = markers[(LABELS_NAMESPACE, 0)]
    assert label.type == Marker.TEXT_VIEW_FACING and label.text == '#7'
    expected = [c / 255.0 for c in track_color(7)]
    limbs = markers[(SKELETON_NAMESPACE, 0)]
    assert all(np.allclose((c.r, c.g, c.b), expected) for c in limbs.colors)
    assert (LABELS_NAMESPACE, 1) not in markers, 'untracked poses get no label'
    # The track is lost: its label is deleted rather than left on screen.
    pose_array.poses[0].id = 0
    markers = by_key(builder.build(pose_array))
    assert markers[(LABELS_NAMESPACE, 0)].action == Marker.DELETE


def test_with_a_target_frame_poses_without_positions_stay_on_the_cameras_image_plane(
        pose_arrays):
    """
    target_frame: the PoseArray is in base_link, but pixels only have a place in the camera.

    A pose with positions is drawn in the PoseArray's frame, its label above it along z (up in
    REP 103's body frames); one without is drawn on the image plane in the camera's frame.
    """
    pose_array = copied(next(iter(pose_arrays.values())))
    pose_array.header.frame_id = 'base_link'
    pose = pose_array.poses[0]
    pose.id = 3
    placed = [k.part for k in pose.keypoints if k.score >= 0.1][:6]
    for part in placed:  # 2 m ahead of the robot, heights 1.0 m to 1.5 m
        keypoint = pose.keypoints[part]
        keypoint.position.x, keypoint.position.y, keypoint.position.z = 2.0, 0.0, 1.0 + 0.1 * part
        keypoint.has_position = True
    markers = by_key(to_marker_array(pose_array, min_keypoint_score=0.1,
                                     image_frame_id='camera_optical_frame'))
    in_3d = markers[(JOINTS_NAMESPACE, 0)]
    assert in_3d.header.frame_id == 'base_link'
    label = markers[(LABELS_NAMESPACE, 0)]
    assert label.header.frame_id == 'base_link'
    assert label.pose.position.z > max(p.z for p in in_3d.points), 'the label is above the person'
    for namespace in (JOINTS_NAMESPACE, SKELETON_NAMESPACE):
        flat = markers[(namespace, 1)]
        assert flat.header.frame_id == 'camera_optical_frame'
        assert all(p.z == 0.0 for p in flat.points)
    # Without a target frame (or told nothing) everything is in the PoseArray's frame.
    pose_array.header.frame_id = 'camera_optical_frame'
    for image_frame_id in (None, 'camera_optical_frame'):
        markers = to_marker_array(pose_array, min_keypoint_score=0.1,
                                  image_frame_id=image_frame_id)
        assert {m.header.frame_id for m in markers.markers} == {'camera_optical_frame'}


def test_markers_outlive_the_time_between_frames():
    """
    Markers last longer than the time between frames (RViz counts from their arrival).

    At 1 frame/s, a lifetime of 0.5 s would make them blink.

    At 30 frames/s the lifetime stays 0.5 s; at 1 frame/s it is 2.5 s; a sudden long gap counts
    at once, a return to a fast rate over a few frames; at most 10 s.
    """
    interval = FrameInterval()
    assert marker_lifetime(interval.seconds) == DEFAULT_LIFETIME  # one frame: nothing known
    for index in range(10):
        interval.update(100.0 + index / 30.0)
    assert marker_lifetime(interval.seconds) == pytest.approx(DEFAULT_LIFETIME)
    interval.update(102.0)  # then 1 frame/s: the first gap counts at once
    assert marker_lifetime(interval.seconds) >= 2.5 * 1.7
    for index in range(1, 30):
        interval.update(102.0 + index)
    assert marker_lifetime(interval.seconds) == pytest.approx(2.5, abs=0.01)
    interval.update(141.0)  # a 10 s gap
    assert marker_lifetime(interval.seconds) == pytest.approx(10.0)
    for index in range(1, 40):
        interval.update(141.0 + index / 30.0)  # fast again
    assert marker_lifetime(interval.seconds) == pytest.approx(DEFAULT_LIFETIME)
