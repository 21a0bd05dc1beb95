"""
posenet_node refuses to start on a bad setup with one clear line and exit code 1.

Each case is a real `posenet_node` process, as a user starts it; they run side by side.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time

from node_support import DomainClaim, node_command
import pytest

pytestmark = pytest.mark.dds  # starts nodes and talks to them over DDS

CASES = {
    'stride beyond the multiplier': (
        {'output_stride': 32}, 'output_stride 32 needs multiplier 1.00 or 1.01'),
    'stride not in the range': ({'output_stride': 12}, 'output_stride'),
    'unknown decoding': ({'decoding': 'several'}, "decoding must be 'single' or 'multi'"),
    'integer for a double': ({'score_threshold': 1}, "expecting type 'DOUBLE'"),
    'unknown device': ({'device': 'tpu'}, 'device must be one of'),
    'unknown model name': ({'model': 'mobilenet_float_042'}, 'unknown PoseNet model'),
    'weights nowhere to be found': ({'model': 'mobilenet_float_075'}, 'POSENET_MODELS'),
    # rclpy would swallow these two (raised in configure's and activate's own work)
    'unusable QoS override of poses': (
        {'qos_overrides./poses.publisher.reliability': 'reliabel'},
        'Unexpected QoS override for policy `reliability`: `reliabel`'),
    'unusable QoS override of the input': (
        {'qos_overrides./image.subscription.history': 'keep_some'},
        'Unexpected QoS override for policy `history`: `keep_some`'),
}


@pytest.fixture(scope='module')
def outcomes(models_path, tmp_path_factory):
    """Start every case at once (they only get as far as loading weights), then collect."""
    empty = tmp_path_factory.mktemp('empty')
    claim = DomainClaim('startup')
    env = dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST',
               ROS_DOMAIN_ID=str(claim.domain_id),
               POSENET_MODELS=str(empty), POSENET_CACHE=str(empty),
               # Nothing listens there: a download fails at once, as offline.
               POSENET_MODEL_BASE_URL='http://127.0.0.1:9')
    processes = {}
    for case, (parameters, _) in CASES.items():
        if 'model' not in parameters:
            parameters = {'model': str(models_path / 'mobilenet_quant2_075'), **parameters}
        processes[case] = subprocess.Popen(
            node_command(parameters), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
    results = {}
    for case, process in processes.items():
        try:
            stdout, stderr = process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
        results[case] = (process.returncode, stdout + stderr)
    claim.release()
    return results


@pytest.mark.parametrize('case', list(CASES))
def test_a_bad_setup_is_refused_with_one_clear_line(outcomes, case):
    code, output = outcomes[case]
    expected = CASES[case][1]
    assert code == 1, output[-2000:]
    assert expected in output, output[-2000:]
    assert 'Traceback' not in output
    (line,) = [line for line in output.splitlines() if line.startswith('[posenet_node] ERROR')]
    assert expected in line or case == 'weights nowhere to be found'


@pytest.mark.parametrize('delay_s', [1.0, 3.0])
def test_ctrl_c_during_start_up_exits_0_without_traceback(models_path, delay_s):
    """Wherever the start-up is (imports, TensorFlow, weights, warm-up), Ctrl-C ends it cleanly."""
    claim = DomainClaim(f'startup_ctrl_c_{delay_s}')
    env = dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST',
               ROS_DOMAIN_ID=str(claim.domain_id))
    try:
        process = subprocess.Popen(
            node_command({'model': str(models_path / 'mobilenet_quant2_075')}), env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(delay_s)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        claim.release()
    assert process.returncode == 0, output[-2000:]
    assert 'Traceback' not in output, output[-3000:]
