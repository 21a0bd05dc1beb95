"""
A deactivate does not wait for an int8 calibration in the background; a cleanup stops it.

And no frame is published once a deactivate has begun.

A lifecycle manager deactivates with a timeout of seconds, while calibrating int8 on the
camera's first frames takes tens of seconds (two minutes at most before the node gives up
waiting). The node runs in this process, with its real executor and publishers over DDS; the
calibration is held until the test lets it go, so the deactivate happens while it runs.
"""
from __future__ import annotations

from pathlib import Path
import sys
import threading
import time
import uuid

from node_support import load_rgb, node_in_this_process
from posenet_ros.engine import estimator as estimator_module
from posenet_ros.engine import tflite_build
from posenet_ros.ros.image_conversion import rgb_to_image_msg
import pytest

pytestmark = pytest.mark.dds

MODEL = 'mobilenet_float_050'


def processes_running(marker: str) -> list[int]:
    """Return the pids of this machine's processes whose command line holds `marker`."""
    pids = []
    for cmdline in Path('/proc').glob('[0-9]*/cmdline'):
        try:
            if marker.encode() in cmdline.read_bytes():
                pids.append(int(cmdline.parent.name))
        except OSError:  # ended meanwhile
            continue
    return pids


def int8_on_first_frame(models_path) -> dict:
    """Return the parameters of a node that calibrates int8 on its first frame."""
    return {'model': str(models_path / MODEL), 'precision': 'int8',
            'int8_calibration_frames': 1,
            'qos_overrides./image.subscription.reliability': 'reliable'}


def send_frames_until(client, data_path, done, failure: str, timeout_s: float = 60.0) -> None:
    """Send a photo with a person until `done()` (e.g. the calibration has started)."""
    frame = rgb_to_image_msg(load_rgb(data_path / 'smoke' / 'zidane.jpg'))
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, failure
        client.exchange(frame, timeout_s=30.0, resend_every_s=1.0)


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
    parameters = int8_on_first_frame(models_path)
    try:
        with node_in_this_process('deactivate', parameters) as (node, client):
            frame = rgb_to_image_msg(load_rgb(data_path / 'smoke' / 'zidane.jpg'))
            assert client.exchange(frame, timeout_s=60.0, resend_every_s=1.0).poses  # float32
            # The first frames are kept, then calibrated on.
            send_frames_until(client, data_path, calibrating.is_set,
                              'int8 calibration did not start', timeout_s=30.0)
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


def test_cleanup_stops_an_int8_calibration_in_a_child(models_path, data_path, monkeypatch,
                                                      tmp_path):
    """The model is released: its calibration, in a child process, ends now."""
    monkeypatch.setenv('POSENET_CACHE', str(tmp_path / 'cache'))  # no int8 model saved yet
    real_command = tflite_build.child_command
    marker = f'posenet int8 calibration stand-in {uuid.uuid4().hex}'

    def slow_int8_child(*args, **kwargs):  # an int8 calibration that would take 5 minutes
        command = real_command(*args, **kwargs)
        if '--int8-calibration' not in command:
            return command
        return [sys.executable, '-c', f'import time; time.sleep(300)  # {marker}']

    monkeypatch.setattr(tflite_build, 'child_command', slow_int8_child)
    # As in a node without TensorFlow (earlier tests may have loaded it into this process):
    # the node builds its models in child processes then.
    monkeypatch.delitem(sys.modules, 'tensorflow', raising=False)
    with node_in_this_process('cleanup', int8_on_first_frame(models_path)) as (node, client):
        send_frames_until(client, data_path, lambda: processes_running(marker),
                          'the int8 child process did not start')
        builder = node._int8_stage._builder
        node.trigger_deactivate()
        node.trigger_cleanup()
        # Before, cleanup left it running for its 5 minutes (and shutdown waited 2 of them).
        assert not processes_running(marker), 'the calibration still runs after cleanup'
        builder.join(10.0)
        assert not builder.is_alive()
        assert node._state == 'unconfigured'


def test_cleanup_stops_a_calibration_child_started_just_after_the_first_stop(
        models_path, data_path, monkeypatch, tmp_path):
    """A child registered an instant after cleanup's first stop is stopped all the same."""
    monkeypatch.setenv('POSENET_CACHE', str(tmp_path / 'cache'))
    real_command, real_stop = tflite_build.child_command, tflite_build.stop_child_builds
    marker = f'posenet int8 calibration stand-in {uuid.uuid4().hex}'
    about_to_start, first_stop = threading.Event(), threading.Event()

    def late_int8_child(*args, **kwargs):  # held until cleanup has stopped what there was
        command = real_command(*args, **kwargs)
        if '--int8-calibration' not in command:
            return command
        about_to_start.set()
        first_stop.wait(60.0)
        return [sys.executable, '-c', f'import time; time.sleep(300)  # {marker}']

    def stop_and_tell(*args, **kwargs):
        stopped = real_stop(*args, **kwargs)
        first_stop.set()
        return stopped

    monkeypatch.setattr(tflite_build, 'child_command', late_int8_child)
    monkeypatch.setattr(tflite_build, 'stop_child_builds', stop_and_tell)
    monkeypatch.delitem(sys.modules, 'tensorflow', raising=False)  # builds in children
    with node_in_this_process('late_child', int8_on_first_frame(models_path)) as (node, client):
        send_frames_until(client, data_path, about_to_start.is_set,
                          'the int8 calibration did not start')
        node.trigger_deactivate()
        start = time.monotonic()
        node.trigger_cleanup()
        # Before, the child missed the only stop and cleanup waited 120 s for it.
        assert time.monotonic() - start < 20.0
        assert not processes_running(marker), 'the calibration still runs after cleanup'
        assert node._state == 'unconfigured'


def test_a_frame_taken_as_deactivate_begins_is_not_published(models_path, data_path):
    """
    The worker may take a frame just as deactivate lets it go (before it is told to stop).

    That frame ends unpublished, as one in progress does; before, it found no worker to ask
    and was published during the deactivate.
    """
    from rclpy.serialization import serialize_message
    with node_in_this_process('late_frame', {'model': str(models_path / MODEL)}) as (
            node, client):
        frame = rgb_to_image_msg(load_rgb(data_path / 'smoke' / 'zidane.jpg'))
        assert client.exchange(frame, timeout_s=60.0, resend_every_s=1.0).poses
        late_id = client.new_frame_id()
        frame.header.frame_id = late_id
        frame.header.stamp = client.node.get_clock().now().to_msg()
        taken = serialize_message(frame) if node._frames.raw else frame
        worker = node._worker
        real_stop = worker.stop

        def stop_after_a_frame_was_taken(*args, **kwargs):
            node._process(taken)  # the worker thread, with the frame it took an instant ago
            return real_stop(*args, **kwargs)

        worker.stop = stop_after_a_frame_was_taken
        node.trigger_deactivate()
        assert node._state == 'inactive'
        client.spin_for(1.0)
        assert client.answer_to(late_id) is None, 'published during the deactivate'
