"""
A deactivate does not wait for an int8 calibration in the background; it is used afterwards.

A lifecycle manager deactivates with a timeout of seconds, while calibrating int8 on the
camera's first frames takes tens of seconds (two minutes at most before the node gives up
waiting). The node runs in this process, with its real executor and publishers over DDS; the
calibration is held until the test lets it go, so the deactivate happens while it runs.
"""
from __future__ import annotations

import threading
import time

from node_support import load_rgb, node_in_this_process
from posenet_ros.engine import estimator as estimator_module
from posenet_ros.ros.image_conversion import rgb_to_image_msg
import pytest

pytestmark = pytest.mark.dds

MODEL = 'mobilenet_float_050'


def test_deactivate_during_int8_calibration_returns_and_int8_is_used_after(
        models_path, data_path, monkeypatch, tmp_path):
    monkeypatch.setenv('POSENET_CACHE', str(tmp_path / 'cache'))  # no int8 model saved yet
    release, calibrating = threading.Event(), threading.Event()
    real_estimator = estimator_module.PoseEstimator

    def held_estimator(*args, **kwargs):  # the int8 one waits, as a long calibration does
        if kwargs.get('precision') == 'int8':
            calibrating.set()
            # Less than the node's 120 s: a deactivate that waited would see it fail first.
            assert release.wait(60.0), 'held for 60 s: calibration given up'
        return real_estimator(*args, **kwargs)

    monkeypatch.setattr(estimator_module, 'PoseEstimator', held_estimator)
    parameters = {'model': str(models_path / MODEL), 'precision': 'int8',
                  'int8_calibration_frames': 1,
                  'qos_overrides./image.subscription.reliability': 'reliable'}
    try:
        with node_in_this_process('deactivate', parameters) as (node, client):
            frame = rgb_to_image_msg(load_rgb(data_path / 'smoke' / 'zidane.jpg'))
            assert client.exchange(frame, timeout_s=60.0, resend_every_s=1.0).poses  # float32
            deadline = time.monotonic() + 30.0
            while not calibrating.is_set():  # the first frames are kept, then calibrated on
                assert time.monotonic() < deadline, 'int8 calibration did not start'
                client.exchange(frame, timeout_s=30.0, resend_every_s=1.0)
            node.trigger_deactivate()
            # Back while the calibration still runs (before: it waited for it, up to 120 s).
            builder = node._int8_stage._builder
            assert node._state == 'inactive' and builder.is_alive() and not release.is_set()
            release.set()
            builder.join(120.0)
            assert not builder.is_alive() and node.estimator.precision == 'int8'
            node.trigger_activate()
            assert node._state == 'active'
            assert client.exchange(frame, timeout_s=30.0, resend_every_s=1.0).poses
            assert node._estimate_stage._estimator is node.estimator  # frames now in int8
    finally:
        release.set()
