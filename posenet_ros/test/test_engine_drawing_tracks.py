"""Drawing tracked people: a colour per track id with its label, joints sized to the person."""
from __future__ import annotations

import numpy as np
from posenet_ros.engine.drawing import draw_poses, person_sizes_px, track_color
from posenet_ros.engine.parts import PART_IDS
from posenet_ros.engine.types import Pose


def standing_pose(x: float, feet: float, height: float) -> Pose:
    """Return a front-facing person `height` px tall: shoulders and hips far apart vertically."""
    unit = height / 200.0
    body = np.array([
        [0, -190], [-6, -196], [6, -196], [-14, -192], [14, -192], [-30, -160], [30, -160],
        [-40, -120], [40, -120], [-44, -85], [44, -85], [-18, -90], [18, -90], [-20, -45],
        [20, -45], [-20, 0], [20, 0]], dtype=np.float64) * unit + (x, feet)
    return Pose(score=0.9, keypoint_scores=np.full(17, 0.9), keypoint_coords=body)


def test_track_colours_differ_and_untracked_is_grey():
    colours = [track_color(i) for i in range(1, 11)]
    assert len(set(colours)) == 10
    assert track_color(0) == (160, 160, 160)


def test_limbs_take_their_tracks_colour():
    image = np.zeros((480, 640, 3), dtype=np.uint8)
    pose = standing_pose(320, 460, 400)
    drawn = draw_poses(image, [pose], track_ids=[3])
    shoulder, hip = (pose.keypoint_coords[PART_IDS[name]] for name in ('left_shoulder',
                                                                       'left_hip'))
    middle = np.round((shoulder + hip) / 2).astype(int)
    assert tuple(int(c) for c in drawn[middle[1], middle[0]]) == track_color(3)
    untracked = draw_poses(image, [pose])
    assert tuple(int(c) for c in untracked[middle[1], middle[0]]) != track_color(3)
    assert (drawn[:int(pose.keypoint_coords[:, 1].min()) - 1] != 0).any()  # the "#3" label


def test_a_distant_person_gets_thinner_lines_and_smaller_joints():
    assert person_sizes_px(np.array([[0.0, 0.0], [0.0, 60.0]]), 2, 4) == (1, 2)
    assert person_sizes_px(np.array([[0.0, 0.0], [0.0, 400.0]]), 2, 4) == (2, 4)
    image = np.zeros((480, 640, 3), dtype=np.uint8)
    small = draw_poses(image, [standing_pose(320, 300, 60)])
    touched = (small != 0).any(axis=2).sum()
    assert touched < 17 * np.pi * (4 + 1) ** 2  # less than the image-sized dots alone
