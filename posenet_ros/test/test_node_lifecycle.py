"""
posenet_node as a managed node: lifecycle transitions over DDS, and its /diagnostics.

The node starts with autostart false, as under a lifecycle manager, and is driven through its
change_state service exactly as `ros2 lifecycle set` does.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

from diagnostic_msgs.msg import DiagnosticStatus
from lifecycle_msgs.msg import Transition
from node_support import (diagnostic_values, DomainClaim, image_subscribers, Lifecycle,
                          load_rgb, NodeProcess, PoseNetClient)
from posenet_ros.ros.image_conversion import rgb_to_image_msg
import pytest

pytestmark = pytest.mark.dds

MODEL = 'mobilenet_quant2_075'
PHOTO = 'coco_kpts/images/000000005802.jpg'  # one person
RSS_TOLERANCE_MB = 50.0


def rss_mb(pid: int, field: str = 'RssAnon') -> float:
    """
    Resident memory of a process, MB.

    RssAnon: its own heap and stacks, without the pages of
    the shared libraries it has run (file-backed, dropped by the kernel when memory is short,
    and more of them resident the more of TensorFlow has run).
    """
    with open(f'/proc/{pid}/status') as status:
        for line in status:
            if line.startswith(f'{field}:'):
                return int(line.split()[1]) / 1024.0
    raise AssertionError(f'no {field}')


def engine_import_mb() -> float:
    """
    Return what importing the engine (TensorFlow, LiteRT) adds to a process's RSS.

    Libraries a process cannot unload, so configure's first run leaves them behind after
    cleanup.
    """
    script = ('import os\n'
              'def rss():\n'
              '    return [int(l.split()[1]) for l in open("/proc/self/status")'
              ' if l.startswith("RssAnon:")][0] / 1024\n'
              'import rclpy, numpy, cv2\n'
              'before = rss()\n'
              'from posenet_ros.engine.estimator import PoseEstimator\n'
              'import ai_edge_litert.interpreter\n'  # what runs a cached model
              'print(rss() - before)\n')
    output = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                            check=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2'))
    return float(output.stdout.split()[-1])


@pytest.fixture(scope='module')
def rgb(data_path):
    return load_rgb(data_path / PHOTO)


@pytest.fixture
def managed(tmp_path):
    """Yield a node started with autostart false, and a client with its lifecycle services."""
    started = []

    def start(parameters, remaps=None):
        claim = DomainClaim(f'lifecycle_{len(started)}')
        node = NodeProcess(claim.domain_id, {'autostart': False, **parameters},
                           tmp_path / f'node{len(started)}.log', remaps=remaps)
        client = PoseNetClient(claim.domain_id)
        started.append((claim, node, client))
        return node, client, Lifecycle(client)

    yield start
    for claim, node, client in started:
        client.close()
        node.interrupt()
        claim.release()


def test_two_full_cycles_serve_frames_only_while_active_and_give_memory_back(
        managed, models_path, rgb):
    node, client, lifecycle = managed({'model': str(models_path / MODEL)})
    good = rgb_to_image_msg(rgb)
    lifecycle.wait_ready()
    assert lifecycle.state() == 'unconfigured'
    status = client.wait_for_diagnostic('lifecycle', lambda s: True, timeout_s=10.0)
    assert diagnostic_values(status)['state'] == 'unconfigured'
    assert not image_subscribers(client)
    client.spin_for(2.0)
    unconfigured_mb = rss_mb(node.process.pid)
    after_cleanup = []
    for cycle in range(2):
        assert lifecycle.change(Transition.TRANSITION_CONFIGURE)
        assert lifecycle.state() == 'inactive'
        assert not image_subscribers(client), 'inactive: no subscription to the camera'
        # Frames sent while inactive are not processed.
        sent = [client.send(good) for _ in range(3)]
        client.spin_for(1.0)
        assert all(client.answer_to(frame_id) is None for frame_id in sent)

        assert lifecycle.change(Transition.TRANSITION_ACTIVATE)
        assert lifecycle.state() == 'active'
        assert image_subscribers(client)
        answer = client.exchange(good)
        assert answer.poses and answer.poses[0].score > 0.3
        active_mb = rss_mb(node.process.pid)

        assert lifecycle.change(Transition.TRANSITION_DEACTIVATE)
        assert lifecycle.state() == 'inactive'
        assert client.spin_until(lambda: not image_subscribers(client), 5.0), (
            'the camera subscription must go on deactivate')
        sent = [client.send(good) for _ in range(3)]
        client.spin_for(1.0)
        assert all(client.answer_to(frame_id) is None for frame_id in sent)

        assert lifecycle.change(Transition.TRANSITION_CLEANUP)
        assert lifecycle.state() == 'unconfigured'
        client.spin_for(1.0)
        after_cleanup.append(rss_mb(node.process.pid))
        print(f'cycle {cycle + 1}: RssAnon unconfigured at start {unconfigured_mb:.0f} MB, '
              f'active {active_mb:.0f} MB, after cleanup {after_cleanup[-1]:.0f} MB (VmRSS '
              f'{rss_mb(node.process.pid, "VmRSS"):.0f} MB)')
    # Both cycles end where the first did: nothing held on across cycles.
    assert after_cleanup[1] - after_cleanup[0] < RSS_TOLERANCE_MB, after_cleanup
    # What the model took is given back: after cleanup the process holds what it held
    # unconfigured plus the libraries the first configure imported (measured apart).
    libraries_mb = engine_import_mb()
    print(f'engine import (TensorFlow, LiteRT), RssAnon: {libraries_mb:.0f} MB')
    assert after_cleanup[1] - (unconfigured_mb + libraries_mb) < RSS_TOLERANCE_MB
    log = node.log()
    assert 'Traceback' not in log, log[-3000:]


def test_live_parameters_are_taken_in_every_state(managed, models_path, rgb):
    node, client, lifecycle = managed({'model': str(models_path / MODEL)})
    lifecycle.wait_ready()
    (result,) = client.set_parameters(min_pose_score=0.99)  # unconfigured
    assert result.successful, result.reason
    (result,) = client.set_parameters(output_stride=12)
    assert not result.successful and 'output_stride' in result.reason
    assert lifecycle.change(Transition.TRANSITION_CONFIGURE)
    (result,) = client.set_parameters(max_pose_detections=3)  # inactive
    assert result.successful, result.reason
    assert lifecycle.change(Transition.TRANSITION_ACTIVATE)
    answer = client.exchange(rgb_to_image_msg(rgb))
    assert answer.poses == [], 'min_pose_score 0.99 set while unconfigured is in force'
    (result,) = client.set_parameters(min_pose_score=0.1)  # active
    assert result.successful
    assert client.exchange(rgb_to_image_msg(rgb)).poses


def test_a_failing_configure_is_reported_and_can_be_retried(managed, models_path, tmp_path):
    weights = tmp_path / 'robot_models' / MODEL  # where the weights will be, not there yet
    node, client, lifecycle = managed({'model': str(weights)})
    lifecycle.wait_ready()
    assert not lifecycle.change(Transition.TRANSITION_CONFIGURE)
    assert lifecycle.state() == 'unconfigured'
    status = client.wait_for_diagnostic(
        'lifecycle', lambda s: s.level == DiagnosticStatus.ERROR, timeout_s=5.0)
    assert 'configure failed' in status.message and str(weights) in status.message
    assert node.wait_for_log('configure failed')
    # The weights arrive (e.g. a mounted volume): configuring again works.
    weights.parent.mkdir(parents=True)
    shutil.copytree(models_path / MODEL, weights)
    assert lifecycle.change(Transition.TRANSITION_CONFIGURE)
    assert lifecycle.change(Transition.TRANSITION_ACTIVATE)
    client.wait_for_diagnostic('lifecycle', lambda s: s.level == DiagnosticStatus.OK
                               and diagnostic_values(s)['state'] == 'active', timeout_s=5.0)
    assert 'Traceback' not in node.log()


def test_a_failing_activate_is_reported_and_leaves_the_node_inactive(managed, models_path):
    # A typo in a QoS override of the input: only subscribing at activate finds it out.
    node, client, lifecycle = managed({
        'model': str(models_path / MODEL),
        'qos_overrides./image.subscription.reliability': 'reliabel'})
    lifecycle.wait_ready()
    assert lifecycle.change(Transition.TRANSITION_CONFIGURE)
    assert not lifecycle.change(Transition.TRANSITION_ACTIVATE)
    assert lifecycle.state() == 'inactive'
    status = client.wait_for_diagnostic(
        'lifecycle', lambda s: s.level == DiagnosticStatus.ERROR, timeout_s=5.0)
    assert status.message.startswith('activate failed: RuntimeError: Unexpected QoS override'), \
        status.message
    assert 'reliabel' in diagnostic_values(status)['activate error']
    assert node.wait_for_log('activate failed: RuntimeError')
    assert not image_subscribers(client), 'a camera subscription left behind'
    assert lifecycle.change(Transition.TRANSITION_CLEANUP)
    # Configured anew, the node reports no old activate failure (until it fails again).
    assert lifecycle.change(Transition.TRANSITION_CONFIGURE)
    since = len(client.diagnostics)
    client.wait_for_diagnostic('lifecycle', lambda s: s.level == DiagnosticStatus.OK
                               and diagnostic_values(s)['state'] == 'inactive', timeout_s=5.0,
                               since=since)
    assert 'Traceback' not in node.log()


def test_diagnostics_warn_when_the_camera_stops_and_recover_when_it_resumes(
        managed, models_path, rgb):
    node, client, lifecycle = managed({'model': str(models_path / MODEL),
                                       'diagnostics_input_timeout': 1.0})
    good = rgb_to_image_msg(rgb)
    lifecycle.wait_ready()
    assert lifecycle.change(Transition.TRANSITION_CONFIGURE)
    assert lifecycle.change(Transition.TRANSITION_ACTIVATE)
    client.exchange(good)

    def stream(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            client.send(good)
            client.spin_for(0.1)

    stream(2.5)
    since = len(client.diagnostics)
    stream(1.5)
    ok = [s for s in client.diagnostic_statuses('input', since) if s.level == DiagnosticStatus.OK]
    assert ok, client.diagnostic_statuses('input', since)
    values = diagnostic_values(ok[-1])
    assert float(values['processing rate (Hz)']) > 0.0  # frames flowed (speed not checked)
    assert int(values['frames processed']) >= 1
    assert values['frames taken as'] == 'serialized bytes (image_wire)'  # this middleware
    processing = client.diagnostic_statuses('processing', since)[-1]
    processing_values = diagnostic_values(processing)
    for key in ('latency p50 (ms)', 'latency p95 (ms)', 'inference p50 (ms)'):
        assert float(processing_values[key]) > 0.0, (key, processing_values)
    # Where a frame's time goes: every stage timed, the network's inside the estimate stage.
    stages = {key: float(value) for key, value in processing_values.items()
              if key.startswith('stage ')}
    # The frames are read from their bytes (`deserialize`): this middleware sends plain CDR.
    for name in ('deserialize', 'convert', 'estimate', 'people', 'tracking', 'pose_array',
                 'publish_poses'):
        assert f'stage {name} mean (ms)' in stages, stages
    assert stages['stage estimate mean (ms)'] >= float(processing_values['inference p50 (ms)']) / 2
    assert sum(stages.values()) < float(processing_values['latency p95 (ms)']) * 2
    model = diagnostic_values(client.diagnostic_statuses('model', since)[-1])
    assert model['model'] == MODEL and model['multiplier'] == '0.75'
    assert model['device'] == '/CPU:0' and model['backend'] == 'tflite'
    assert model['output stride'] == '16' and model['input size'] == '481x353'
    assert all(s.hardware_id for s in client.diagnostics[-1].status)

    # The camera stops: WARN after the timeout, saying so.
    warn = client.wait_for_diagnostic('input', lambda s: s.level == DiagnosticStatus.WARN,
                                      timeout_s=5.0)
    assert 'no frame for' in warn.message
    # It resumes: OK again.
    since = len(client.diagnostics)
    stream(2.5)
    assert any(s.level == DiagnosticStatus.OK for s in client.diagnostic_statuses('input', since))
    assert all(s.level != DiagnosticStatus.STALE for array in client.diagnostics
               for s in array.status)


def test_diagnostics_name_the_input_topic_resolved_before_the_first_activate(managed, models_path):
    """Namespace and remapping apply from the start, as they will to the subscription."""
    node, client, lifecycle = managed({'model': str(models_path / MODEL)},
                                      remaps={'__ns': '/front', 'image': 'camera/image_raw'})
    status = client.wait_for_diagnostic('input', lambda s: True, timeout_s=10.0)
    assert diagnostic_values(status)['topic'] == '/front/camera/image_raw', status
    assert status.message == 'not active (unconfigured): no input expected'


def test_the_depth_status_is_published_in_every_state(managed, models_path):
    """A status that came and went would show STALE in diagnostic_aggregator while inactive."""
    node, client, lifecycle = managed({'model': str(models_path / MODEL), 'use_depth': True})
    lifecycle.wait_ready()

    def depth_status():
        return client.wait_for_diagnostic('depth', lambda s: True, timeout_s=5.0)

    for state, transition in (('unconfigured', Transition.TRANSITION_CONFIGURE),
                              ('inactive', Transition.TRANSITION_ACTIVATE),
                              ('active', Transition.TRANSITION_DEACTIVATE),
                              ('inactive', None)):
        status = depth_status()
        if state == 'active':
            assert 'not active' not in status.message, status.message
        else:
            assert status.level == DiagnosticStatus.OK, status.message
            assert status.message == f'not active ({state}): no depth expected'
        if transition is not None:
            assert lifecycle.change(transition)


def test_totals_since_start_are_kept_across_activations(managed, models_path, rgb):
    node, client, lifecycle = managed({'model': str(models_path / MODEL)})
    lifecycle.wait_ready()
    assert lifecycle.change(Transition.TRANSITION_CONFIGURE)
    assert lifecycle.change(Transition.TRANSITION_ACTIVATE)
    client.exchange(rgb_to_image_msg(rgb))

    def processed_since_start(status) -> int:
        return int(diagnostic_values(status).get('frames processed since start', -1))

    status = client.wait_for_diagnostic('input', lambda s: processed_since_start(s) >= 1,
                                        timeout_s=5.0)
    processed = processed_since_start(status)
    assert lifecycle.change(Transition.TRANSITION_DEACTIVATE)
    assert lifecycle.change(Transition.TRANSITION_ACTIVATE)
    status = client.wait_for_diagnostic('input', lambda s: processed_since_start(s) >= 0,
                                        timeout_s=5.0)
    assert processed_since_start(status) == processed, diagnostic_values(status)
    assert int(diagnostic_values(status)['frames processed']) == 0  # the period's: a new one
