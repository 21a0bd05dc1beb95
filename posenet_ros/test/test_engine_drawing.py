"""draw_poses: the original PoseNet's poses drawn on the photos they were found in."""
from __future__ import annotations

import json

import cv2
import numpy as np
from posenet_ros.engine.drawing import (
    draw_poses, joint_radius_px, line_width_px, score_colors)
from posenet_ros.engine.parts import SKELETON
from posenet_ros.engine.types import Pose
import pytest

REFERENCE = 'smoke/mobilenet_quant2_075_s16_r353x481_multi_demo.json'


@pytest.fixture(scope='module')
def scenes(data_path, reference_path) -> dict:
    """{photo name: (RGB photo, the original's poses on it)} for the smoke photos."""
    document = json.loads((reference_path / REFERENCE).read_text())
    scenes = {}
    for record in document['results']:
        bgr = cv2.imread(str(data_path / 'smoke' / f"{record['id']}.jpg"))
        poses = [Pose(score=pose['score'],
                      keypoint_scores=np.array([k['score'] for k in pose['keypoints']]),
                      keypoint_coords=np.array([[k['x'], k['y']] for k in pose['keypoints']]))
                 for pose in record['poses']]
        scenes[record['id']] = (cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), poses)
    return scenes


def as255(color01) -> np.ndarray:
    return np.round(np.asarray(color01) * 255).astype(np.int16)


def test_score_colours_run_red_yellow_green():
    colors = score_colors([0.0, 0.5, 1.0, -3.0, 7.0])
    np.testing.assert_allclose(colors, [[1, 0, 0], [1, 1, 0], [0, 1, 0], [1, 0, 0], [0, 1, 0]])
    ramp = score_colors(np.linspace(0, 1, 101))
    assert (np.diff(ramp[:, 0]) <= 0).all() and (np.diff(ramp[:, 1]) >= 0).all()


def test_input_is_left_unchanged_and_a_new_image_returned(scenes):
    photo, poses = scenes['zidane']
    before = photo.copy()
    drawn = draw_poses(photo, poses)
    np.testing.assert_array_equal(photo, before)
    assert drawn.shape == photo.shape and drawn.dtype == np.uint8
    assert not np.shares_memory(drawn, photo)
    assert (drawn != photo).any(axis=2).sum() > 1000


@pytest.mark.parametrize('name', ['zidane', 'coco_val2017_000000005001', 'bus'])
def test_joints_are_dots_of_their_score_colour(scenes, name):
    photo, poses = scenes[name]
    radius = joint_radius_px(*photo.shape[:2])
    checked = 0
    for pose in poses:
        drawn = draw_poses(photo, [pose], min_keypoint_score=0.1)
        shown = np.flatnonzero(pose.keypoint_scores >= 0.1)
        for part in shown:
            x, y = pose.keypoint_coords[part]
            others = pose.keypoint_coords[[p for p in shown if p != part]]
            inside = 0 <= round(x) < photo.shape[1] and 0 <= round(y) < photo.shape[0]
            if not inside or (np.hypot(*(others - (x, y)).T) < 3 * radius).any():
                continue  # off the image, or another dot may cover this one
            pixel = drawn[round(y), round(x)].astype(np.int16)
            expected = as255(score_colors(pose.keypoint_scores[part])[0])
            assert np.abs(pixel - expected).max() <= 2, (name, part, pixel, expected)
            checked += 1
    assert checked >= 5


def segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = np.clip(((points - a) @ ab) / max(ab @ ab, 1e-9), 0, 1)
    return np.hypot(*(points - (a + t[:, None] * ab)).T)


def test_weak_keypoints_and_weak_poses_are_not_drawn(scenes):
    photo, poses = scenes['zidane']
    height, width = photo.shape[:2]
    margin = joint_radius_px(height, width) + line_width_px(height, width) + 3
    drawn = draw_poses(photo, poses, min_pose_score=0.3, min_keypoint_score=0.5)
    strong = [pose for pose in poses if pose.score >= 0.3]
    assert 0 < len(strong) < len(poses)
    # Everything that may have been drawn: strong keypoints of strong poses and their limbs.
    marks = [(pose.keypoint_coords[a], pose.keypoint_coords[b]) for pose in strong
             for a, b in SKELETON + tuple((p, p) for p in range(17))
             if pose.keypoint_scores[a] >= 0.5 and pose.keypoint_scores[b] >= 0.5]
    checked = 0
    for pose in poses:
        for part in range(17):
            if pose in strong and pose.keypoint_scores[part] >= 0.5:
                continue
            x, y = pose.keypoint_coords[part]
            if not (0 <= round(x) < width and 0 <= round(y) < height):
                continue
            point = np.array([[x, y]])
            if any(segment_distance(point, a, b)[0] < margin for a, b in marks):
                continue  # a drawn mark may pass over this keypoint
            ys, xs = int(round(y)), int(round(x))
            np.testing.assert_array_equal(drawn[ys, xs], photo[ys, xs])
            checked += 1
    assert checked >= 20
    np.testing.assert_array_equal(draw_poses(photo, poses, min_keypoint_score=1.01), photo)
    np.testing.assert_array_equal(draw_poses(photo, poses, min_pose_score=1.01), photo)


def test_limbs_join_their_keypoints(scenes):
    photo, poses = scenes['coco_val2017_000000005001']
    pose = max(poses, key=lambda p: p.score)
    drawn = draw_poses(photo, [pose])
    changed = (drawn != photo).any(axis=2)
    limbs = [(a, b) for a, b in SKELETON if min(pose.keypoint_scores[[a, b]]) >= 0.1]
    assert len(limbs) >= 6
    for a, b in limbs:
        for t in (0.3, 0.5, 0.7):
            x, y = (1 - t) * pose.keypoint_coords[a] + t * pose.keypoint_coords[b]
            assert changed[int(round(y)), int(round(x))], f'limb {a}-{b} not drawn at t={t}'


def test_lines_and_dots_grow_with_the_image(scenes):
    photo, poses = scenes['coco_val2017_000000005001']
    big = cv2.resize(photo, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
    doubled = [Pose(p.score, p.keypoint_scores, p.keypoint_coords * 2) for p in poses]
    area = (draw_poses(photo, poses) != photo).any(axis=2).sum()
    big_area = (draw_poses(big, doubled) != big).any(axis=2).sum()
    assert 3.0 < big_area / area < 5.0, (area, big_area)


def test_odd_poses_do_not_break_drawing(scenes):
    photo, poses = scenes['bus']
    coords = poses[0].keypoint_coords.copy()
    coords[0] = np.nan
    coords[5] = (1e12, -1e12)
    odd = Pose(poses[0].score, np.ones(17), coords)
    drawn = draw_poses(photo, [odd])
    assert drawn.shape == photo.shape
    np.testing.assert_array_equal(draw_poses(photo, []), photo)


@pytest.mark.parametrize('image', [np.zeros((20, 20), np.uint8), np.zeros((20, 20, 3), np.float32),
                                   np.zeros((20, 20, 4), np.uint8)])
def test_wrong_images_are_refused(image):
    with pytest.raises(ValueError, match=r'\(H, W, 3\) uint8 RGB'):
        draw_poses(image, [])
