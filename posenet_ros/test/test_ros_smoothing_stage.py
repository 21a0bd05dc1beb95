"""
The smoothing stage in metres: a person standing still, measured with depth noise of known size.

Truth: one real person's keypoints (the original PoseNet's pose on a smoke photo) placed 2.5 m
in front of a pinhole camera; every frame measures them with 2 cm of Gaussian noise per
coordinate, 30 frames a second, as a depth camera would. What a robot following the person uses
is `Pose.position`, so it must come out smoothed like the keypoints it is made from.
"""
from __future__ import annotations

import json

from builtin_interfaces.msg import Time
import numpy as np
from posenet_ros.engine.depth import TORSO_PARTS
from posenet_ros.engine.people import PeopleFrame
from posenet_ros.ros.parameters import LIVE, live_settings, SPECS
from posenet_ros.ros.pipeline import Frame
from posenet_ros.ros.stages.smoothing import SmoothingStage
import pytest
from sensor_msgs.msg import Image
from std_msgs.msg import Header

REFERENCE = 'smoke/mobilenet_quant2_075_s16_r353x481_multi_demo.json'
NOISE_M = 0.02
RATE_HZ = 30.0
WARM_UP = 30  # frames before the filters have settled


@pytest.fixture(scope='module')
def still_person(reference_path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return a real person's (17, 2) pixels and scores, and their (17, 3) points at 2.5 m."""
    document = json.loads((reference_path / REFERENCE).read_text())
    pose = document['results'][0]['poses'][0]
    pixels = np.array([[k['x'], k['y']] for k in pose['keypoints']])
    scores = np.array([k['score'] for k in pose['keypoints']])
    focal, centre = 600.0, np.array([320.0, 240.0])
    points = np.column_stack([(pixels - centre) / focal * 2.5, np.full(17, 2.5)])
    return pixels, scores, points


@pytest.fixture
def settings():
    values = {name: SPECS[name].default for name in LIVE}
    values.update(smoothing=True, tracking=True)
    return live_settings(values, 0.75)


def measured_frame(settings, index: int, person, rng, with_positions: bool,
                   frame_id: str | None) -> Frame:
    """Frame `index` of the still person (track 1), positions measured with noise or none."""
    pixels, scores, points = person
    people = PeopleFrame(
        image_width=640, image_height=480, scores=np.array([0.8]), keypoint_scores=scores[None],
        keypoint_coords=pixels[None].copy(), keypoint_positions=np.full((1, 17, 3), np.nan),
        has_keypoint_position=np.zeros((1, 17), dtype=bool), positions=np.full((1, 3), np.nan),
        has_position=np.zeros(1, dtype=bool), track_ids=np.array([1]))
    if with_positions:
        people.keypoint_positions = (points + rng.normal(0.0, NOISE_M, points.shape))[None]
        people.has_keypoint_position[:] = True
        people.positions = people.keypoint_positions[:, list(TORSO_PARTS)].mean(axis=1)
        people.has_position[:] = True
    seconds = 1000.0 + index / RATE_HZ
    header = Header(stamp=Time(sec=int(seconds), nanosec=int(seconds % 1 * 1e9)),
                    frame_id='camera_color_optical_frame')
    return Frame(message=Image(header=header), settings=settings, people=people,
                 frame_id=frame_id)


def rms_errors(settings, person, positions_on, frame_ids) -> dict[str, tuple[float, float]]:
    """Run 200 frames; RMS error (m) against the truth before and after the stage, by output."""
    _, _, points = person
    truth = {'keypoints': points, 'position': points[list(TORSO_PARTS)].mean(axis=0)}
    rng = np.random.default_rng(7)
    stage = SmoothingStage()
    errors = {name: ([], []) for name in truth}
    for index in range(200):
        frame = measured_frame(settings, index, person, rng, positions_on(index),
                               frame_ids(index))
        raw = {'keypoints': frame.people.keypoint_positions[0].copy(),
               'position': frame.people.positions[0].copy()}
        stage(frame)
        out = {'keypoints': frame.people.keypoint_positions[0],
               'position': frame.people.positions[0]}
        if index >= WARM_UP and positions_on(index):
            for name in truth:
                errors[name][0].append(raw[name] - truth[name])
                errors[name][1].append(out[name] - truth[name])
    return {name: tuple(float(np.sqrt(np.mean(np.square(e)))) for e in pair)
            for name, pair in errors.items()}


def test_the_persons_position_is_smoothed_like_its_keypoints(settings, still_person):
    errors = rms_errors(settings, still_person, lambda i: True, lambda i: None)
    for name, (raw, smoothed) in errors.items():
        assert smoothed < 0.6 * raw, (name, errors)


def test_frames_without_positions_do_not_restart_the_filters(settings, still_person):
    """
    Depth on every other frame; the frames without it name no frame of their own.

    With target_frame the positions are in base_link, and a frame without positions used to
    look like a change of frame (the camera's), which started the filters afresh every time.
    """
    errors = rms_errors(settings, still_person, lambda i: i % 2 == 0,
                        lambda i: 'base_link' if i % 2 == 0 else None)
    for name, (raw, smoothed) in errors.items():  # half the measurements: less smoothing
        assert smoothed < 0.75 * raw, (name, errors)


def test_positions_in_a_new_frame_start_afresh(settings, still_person):
    """A filter never blends two frames' coordinates: the first in the new frame is as measured."""
    rng = np.random.default_rng(3)
    stage = SmoothingStage()
    for index in range(10):
        stage(measured_frame(settings, index, still_person, rng, True, 'base_link'))
    frame = measured_frame(settings, 10, still_person, rng, True, 'odom')
    frame.people.keypoint_positions += 1.0  # odom is elsewhere
    frame.people.positions += 1.0
    raw = frame.people.positions.copy()
    stage(frame)
    np.testing.assert_array_equal(frame.people.positions, raw)
