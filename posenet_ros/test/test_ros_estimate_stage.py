"""
The estimate stage: first frames, and when its estimator is replaced (int8 after float32).

Frames never wait for a network build: a size not built yet on the estimator in use is built in
the background while frames go on at the size built. That must still hold right after the
estimator is replaced, when the size the frames want may have changed while the new one was
being made, and when a build started on the old one finishes after the switch. Real
PoseEstimators (float32 TFLite, from the model cache after the first run).
"""
from __future__ import annotations

import dataclasses
import threading
import time

from node_support import load_rgb
from posenet_ros.engine.estimator import PoseEstimator
from posenet_ros.ros.parameters import LIVE, live_settings, SPECS
from posenet_ros.ros.pipeline import Frame
from posenet_ros.ros.stages.estimate import EstimateStage, network_key
import pytest
from sensor_msgs.msg import Image

MODEL = 'mobilenet_float_050'
SIZE_A, SIZE_B, SIZE_C = 257, 225, 289  # square inputs, stride 16


@pytest.fixture(scope='module')
def photo(data_path):
    return load_rgb(data_path / 'smoke' / 'zidane.jpg')


@pytest.fixture
def estimators(models_path):
    """Return the estimator in use and its replacement, warmed up for size A."""
    old, new = (PoseEstimator(str(models_path / MODEL), backend='tflite') for _ in range(2))
    new.warmup(settings_at(SIZE_A).config)
    return old, new


def settings_at(side: int):
    settings = live_settings({name: SPECS[name].default for name in LIVE}, 0.5)
    config = dataclasses.replace(settings.config, input_height=side, input_width=side,
                                 output_stride=16)
    return dataclasses.replace(settings, config=config)


def run_frame(stage: EstimateStage, photo, side: int) -> tuple:
    """Return the (height, width, stride) the frame ran at."""
    frame = Frame(message=Image(), settings=settings_at(side))
    frame.rgb = photo
    stage(frame)
    return frame.notes['network']


def key(side: int) -> tuple:
    return network_key(settings_at(side).config, None, None)


def wait_until_built(stage: EstimateStage, photo, side: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while run_frame(stage, photo, side) != key(side):
        assert time.monotonic() < deadline, f'{side}x{side} was never built'
        stage.wait_for_build(timeout_s)


def stage_running_at_a(estimator, photo) -> EstimateStage:
    """Return an estimate stage on `estimator` that has run a frame at size A."""
    stage = EstimateStage(estimator, lambda message: None, lambda message: None)
    stage.mark_built(settings_at(SIZE_A).config)
    assert run_frame(stage, photo, SIZE_A) == key(SIZE_A)
    return stage


def test_after_a_switch_frames_run_at_the_size_ready_until_theirs_is_built(estimators, photo):
    old, new = estimators
    stage = stage_running_at_a(old, photo)
    # The input size changes while int8 is being made for A; B is built on the old one.
    wait_until_built(stage, photo, SIZE_B)
    stage.use_estimator(new, key(SIZE_A))
    # B is not built on the new estimator: frames go on at A while it is, never waiting.
    assert run_frame(stage, photo, SIZE_B) == key(SIZE_A)
    wait_until_built(stage, photo, SIZE_B)


def test_a_build_on_the_replaced_estimator_is_not_taken_for_the_new_one(estimators, photo):
    old, new = estimators
    stage = stage_running_at_a(old, photo)
    assert run_frame(stage, photo, SIZE_C) == key(SIZE_A)  # C starts building on the old one
    stage.use_estimator(new, key(SIZE_A))  # ... and is replaced before that build ends
    stage.wait_for_build(60.0)
    assert run_frame(stage, photo, SIZE_C) == key(SIZE_A), 'C was taken as built on the new one'
    wait_until_built(stage, photo, SIZE_C)


def test_a_frame_on_the_replaced_estimator_does_not_mark_its_size_built(estimators, photo):
    """A frame still on the old estimator when int8 takes over: its size is not the new one's."""
    old, new = estimators
    stage = stage_running_at_a(old, photo)
    wait_until_built(stage, photo, SIZE_B)
    started, switched = threading.Event(), threading.Event()
    estimate = old.estimate

    def held_estimate(*args, **kwargs):  # the frame in flight while the switch happens
        started.set()
        assert switched.wait(timeout=60)
        return estimate(*args, **kwargs)

    old.estimate = held_estimate
    in_flight = threading.Thread(target=run_frame, args=(stage, photo, SIZE_B))
    in_flight.start()
    assert started.wait(timeout=60)
    stage.use_estimator(new, key(SIZE_A))
    switched.set()
    in_flight.join(timeout=60)
    assert not in_flight.is_alive()
    # B was built on the old estimator only: the next frame at B runs at A on the new one.
    assert run_frame(stage, photo, SIZE_B) == key(SIZE_A)
    wait_until_built(stage, photo, SIZE_B)


def test_first_frames_run_at_the_size_built_at_configure_while_theirs_builds(estimators, photo):
    """
    match_aspect_ratio: the camera's aspect ratio is known only from its first frame.

    Configure built the configured size; the first frame wants another one. It runs at the
    configured size at once, and frames move to theirs once it is built in the background.
    Before, the first frame waited for the build (seconds; on a slow computer the watchdog
    took the worker for stuck).
    """
    old, _ = estimators
    old.warmup(settings_at(SIZE_A).config)
    stage = EstimateStage(old, lambda message: None, lambda message: None)
    stage.mark_built(settings_at(SIZE_A).config)
    assert run_frame(stage, photo, SIZE_C) == key(SIZE_A)
    wait_until_built(stage, photo, SIZE_C)
