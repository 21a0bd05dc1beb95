"""
The frame worker's watchdog: a worker stuck on one frame is replaced while the camera sends.

The node runs in this process (so the hang can be made), with its real executor, parameters and
publishers, talking over DDS to a client on the same domain. No known input hangs a frame, so
the first frame's processing is replaced by one that blocks until the test lets it go; the
watchdog's 30 s threshold is shortened to keep the test quick. A frame held this way then
goes through the real pipeline, as a stage that came back would.
"""
from __future__ import annotations

import contextlib
import threading
import time

from diagnostic_msgs.msg import DiagnosticStatus
from node_support import diagnostic_values, load_rgb, node_in_this_process
from posenet_ros.ros import node as node_module
from posenet_ros.ros.image_conversion import rgb_to_image_msg
from posenet_ros.ros.image_wire import read_image
import pytest

pytestmark = pytest.mark.dds

MODEL = 'mobilenet_quant2_075'


@contextlib.contextmanager
def node_with_held_frames(models_path, hold):
    """
    Yield (node, client, release, held) with the node active in this process.

    hold(count): whether the count-th frame processed (0 first) is held until `release`; held
    frames then go through the real pipeline, as a stage that came back would.
    """
    release = threading.Event()
    held, processed = [], []

    def hold_frames(node):
        real_process = node._process

        def process(message):
            count = len(processed)
            processed.append(message)
            if hold(count):  # as a deadlock in a stage would
                frame = read_image(message) if isinstance(message, bytes) else message  # raw
                held.append((threading.current_thread(), frame.header.stamp))
                release.wait(120.0)  # longer than the test waits for poses
            real_process(message)

        node._process = process  # what the frame worker calls, from activate on

    try:
        with node_in_this_process('watchdog', {
                'model': str(models_path / MODEL),
                'qos_overrides./image.subscription.reliability': 'reliable'},
                prepare=hold_frames) as (node, client):
            yield node, client, release, held
    finally:
        release.set()


def test_a_worker_stuck_on_a_frame_is_replaced_and_its_late_frame_dropped(
        models_path, data_path, monkeypatch):
    monkeypatch.setattr(node_module, 'STUCK_FRAME_S', 1.0)
    frame = rgb_to_image_msg(load_rgb(data_path / 'smoke' / 'zidane.jpg'))
    with node_with_held_frames(models_path, lambda count: count == 0) as (
            node, client, release, held):
        answer = client.exchange(frame, timeout_s=30.0, resend_every_s=1.0)
        # Answered while the first frame is still held: by a new worker thread.
        assert answer.poses and held and held[0][0].is_alive() and not release.is_set()
        status = client.wait_for_diagnostic(
            'processing', lambda s: s.level == DiagnosticStatus.ERROR, timeout_s=5.0, since=0)
        assert 'has been on one frame' in status.message and '(restarted)' in status.message, \
            status.message
        # The held frame comes back, tens of seconds late on a real hang: it is not published
        # (behind newer poses, and through stages that now serve the new worker).
        release.set()
        held[0][0].join(10.0)
        assert not held[0][0].is_alive()
        client.exchange(frame, timeout_s=30.0, resend_every_s=1.0)
        client.spin_for(1.0)
        assert held[0][1] not in [poses.header.stamp for poses in client.poses]


def test_a_worker_is_not_replaced_again_while_the_one_it_replaced_is_stuck(
        models_path, data_path, monkeypatch):
    """A hang both threads share (a lock): one replacement, then it is reported, not repeated."""
    monkeypatch.setattr(node_module, 'STUCK_FRAME_S', 1.0)
    frame = rgb_to_image_msg(load_rgb(data_path / 'smoke' / 'zidane.jpg'))
    with node_with_held_frames(models_path, lambda count: True) as (node, client, release, held):
        deadline = time.monotonic() + 30.0
        while len(held) < 2:  # a camera goes on sending: the new worker takes the next frame
            assert time.monotonic() < deadline, 'no second worker took a frame'
            client.send(frame)
            client.spin_for(0.5)
        client.send(frame)
        status = client.wait_for_diagnostic(
            'processing', lambda s: s.level == DiagnosticStatus.ERROR and 'not restarted' in
            s.message, timeout_s=10.0, since=0)
        assert 'the worker it replaced is still stuck' in status.message, status.message
        client.spin_for(2.0)  # twice the threshold more
        assert node._worker.restarts == 1 and len(held) == 2
        assert [thread.is_alive() for thread, _ in held] == [True, True]
        # Once the hang ends the worker serves frames again: the held ones did not stop it.
        release.set()
        assert client.exchange(frame, timeout_s=30.0, resend_every_s=1.0).poses
        assert node._worker.restarts == 1


def test_a_frame_longer_than_the_input_timeout_is_reported_as_busy_not_as_a_silent_camera(
        models_path, data_path):
    """As a first frame that builds its network: the worker takes no frame meanwhile."""
    frame = rgb_to_image_msg(load_rgb(data_path / 'smoke' / 'zidane.jpg'))
    with node_with_held_frames(models_path, lambda count: count == 0) as (
            node, client, release, held):
        (result,) = client.set_parameters(diagnostics_input_timeout=0.5)
        assert result.successful, result.reason
        deadline = time.monotonic() + 10.0
        while not held:
            assert time.monotonic() < deadline, 'the first frame was not taken'
            client.send(frame)
            client.spin_for(0.1)
        since = len(client.diagnostics)
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:  # a camera at 10 Hz, the frame held all along
            client.send(frame)
            client.spin_for(0.1)
        statuses = client.diagnostic_statuses('input', since)
        assert statuses and all('no frame' not in s.message for s in statuses), \
            [s.message for s in statuses]
        busy = [s for s in statuses if 'busy with one frame for' in s.message]
        assert busy and all(s.level == DiagnosticStatus.OK for s in busy), \
            [(s.level, s.message) for s in statuses]
        assert float(diagnostic_values(busy[-1])['seconds on the frame in progress']) > 0.5
        # The camera goes away meanwhile: that is worth a WARN, still saying the node is busy.
        client.node.destroy_publisher(client.image_pub)
        status = client.wait_for_diagnostic(
            'input', lambda s: s.level == DiagnosticStatus.WARN, timeout_s=5.0)
        assert status.message.startswith('/image has no publisher; busy with one frame for'), \
            status.message
        # Below the watchdog's threshold the processing status has nothing to report.
        assert all(s.level == DiagnosticStatus.OK
                   for s in client.diagnostic_statuses('processing', since))
        release.set()  # else stopping the node waits for the held frame


def test_a_worker_thread_that_died_is_reported_as_an_error_once(models_path, data_path):
    """The watchdog restarts it before the status is made: the period still says it died."""
    frame = rgb_to_image_msg(load_rgb(data_path / 'smoke' / 'zidane.jpg'))
    with node_with_held_frames(models_path, lambda count: False) as (
            node, client, release, held):
        client.exchange(frame, timeout_s=30.0, resend_every_s=1.0)
        worker = node._worker
        thread = worker._thread
        since = len(client.diagnostics)
        # No known error ends the thread (it catches everything); its loop leaves on a new
        # generation, as it would after an error escaping it.
        worker._generation += 1
        thread.join(5.0)
        assert not thread.is_alive()
        status = client.wait_for_diagnostic(
            'processing', lambda s: s.level == DiagnosticStatus.ERROR, timeout_s=5.0,
            since=since)
        assert status.message.startswith('the frame worker thread died'), status.message
        assert diagnostic_values(status)['worker restarts'] == '1'
        assert client.exchange(frame, timeout_s=30.0, resend_every_s=1.0).poses
        client.spin_for(1.5)  # at least one more period
        levels = [s.level for s in client.diagnostic_statuses('processing', since)]
        assert levels.count(DiagnosticStatus.ERROR) == 1 and levels[-1] == DiagnosticStatus.OK, \
            levels
