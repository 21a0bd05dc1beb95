"""
Time and frames as the tracking and smoothing stages see them, from what cameras really send.

A camera or bridge that leaves `header.stamp` at zero must not freeze the smoothed keypoints or
keep tracks alive for ever; positions moved into another frame (`target_frame`) must not be
blended with the previous frame's coordinates. Real stages on PeopleFrames of one person moving
with known truth (a straight walk).
"""
from __future__ import annotations

import time

import numpy as np
from posenet_ros.engine.people import PeopleFrame
from posenet_ros.ros.parameters import LIVE, live_settings, SPECS
from posenet_ros.ros.pipeline import Frame
from posenet_ros.ros.stages.smoothing import SmoothingStage
from posenet_ros.ros.stages.tracking import TrackingStage
from sensor_msgs.msg import Image

# A standing person's keypoints (x, y) in a 640x480 image, spread as a body's are.
BODY = np.stack([np.linspace(280, 360, 17), np.linspace(60, 420, 17)], axis=1)


def settings(**values):
    live = {name: SPECS[name].default for name in LIVE}
    live.update(values)
    return live_settings(live, 0.75)


def person_at(shift_x: float, position_x: float = 0.0) -> PeopleFrame:
    positions = np.zeros((1, 17, 3))
    positions[..., 0] = position_x
    positions[..., 2] = 3.0
    return PeopleFrame(
        image_width=640, image_height=480, scores=np.array([0.9]),
        keypoint_scores=np.full((1, 17), 0.9), keypoint_coords=(BODY + [shift_x, 0.0])[None],
        keypoint_positions=positions, has_keypoint_position=np.ones((1, 17), dtype=bool),
        positions=positions[:, 0], has_position=np.ones(1, dtype=bool),
        track_ids=np.zeros(1, dtype=np.int64))


def frame_of(people: PeopleFrame, stamp_s: float | None, live, frame_id: str = 'camera',
             output_frame: str | None = None) -> Frame:
    message = Image()
    message.header.frame_id = frame_id
    if stamp_s is not None:
        message.header.stamp.sec, nanosec = divmod(int(round(stamp_s * 1e9)), 1_000_000_000)
        message.header.stamp.nanosec = nanosec
    return Frame(message=message, settings=live, people=people, frame_id=output_frame)


def test_unstamped_frames_still_smooth_a_walking_person_towards_where_they_are():
    live = settings(smoothing=True, track_min_hits=1)
    tracking, smoothing = TrackingStage(lambda message: None), SmoothingStage()
    published = []
    for step in range(12):  # walks 15 px a frame at about 30 frames/s, stamps left at zero
        frame = frame_of(person_at(15.0 * step), None, live)
        tracking(frame)
        smoothing(frame)
        published.append(frame.people.keypoint_coords[0, 0, 0])
        time.sleep(1 / 30)
    assert frame.people.track_ids[0] > 0
    # Smoothing lags, but follows: the last keypoint is well past where the walk began.
    assert published[-1] - published[0] > 0.5 * 15.0 * 11, published


def test_unstamped_frames_end_a_track_after_max_age():
    live = settings(track_min_hits=1, track_max_age=0.05)
    tracking = TrackingStage(lambda message: None)
    first = frame_of(person_at(0.0), None, live)
    tracking(first)
    time.sleep(0.2)  # longer than track_max_age without the person
    tracking(frame_of(person_at(1000.0), None, live))  # someone else, far away
    again = frame_of(person_at(0.0), None, live)
    tracking(again)
    assert again.people.track_ids[0] != first.people.track_ids[0], 'a track outlived max_age'


def test_positions_moved_to_another_frame_start_smoothing_afresh():
    live = settings(smoothing=True, track_min_hits=1)
    tracking, smoothing = TrackingStage(lambda message: None), SmoothingStage()
    for step in range(5):  # in the camera frame, at x = 0 m
        frame = frame_of(person_at(0.0, position_x=0.0), 100.0 + step / 30, live)
        tracking(frame)
        smoothing(frame)
    # target_frame set: the same person given in `map`, where they stand at x = 5 m.
    frame = frame_of(person_at(0.0, position_x=5.0), 100.0 + 5 / 30, live, output_frame='map')
    tracking(frame)
    smoothing(frame)
    np.testing.assert_allclose(frame.people.keypoint_positions[0, :, 0], 5.0)
