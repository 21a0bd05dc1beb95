"""posenet_bench's node and client through ROS: a start that fails leaves nothing behind."""
from __future__ import annotations

import sys
import tempfile

from posenet_ros.engine.config import EstimateConfig
from posenet_tools.bench.ros_session import RosBenchError, RosSession
import pytest


def test_a_node_that_cannot_start_says_why_and_leaves_no_log_file(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, 'tempdir', str(tmp_path))
    monkeypatch.setattr(sys, 'executable', str(tmp_path / 'no_python_here'))
    with pytest.raises(RosBenchError, match='cannot start posenet_node'):
        with RosSession('mobilenet_quant2_075', None, EstimateConfig()):
            pass
    assert list(tmp_path.iterdir()) == []


def test_a_client_that_cannot_start_shuts_its_context_down(monkeypatch):
    rclpy = pytest.importorskip('rclpy', reason='rclpy not installed')
    pytest.importorskip('posenet_msgs.msg', reason='posenet_msgs not built/sourced')
    from posenet_tools.bench.ros_session import BenchClient
    contexts = []

    def recorded_context():
        contexts.append(real_context())
        return contexts[-1]

    real_context = rclpy.Context
    monkeypatch.setattr(rclpy, 'Context', recorded_context)
    with pytest.raises(Exception, match='topic'):  # not a valid ROS name
        BenchClient('/not a namespace!')
    assert len(contexts) == 1 and not contexts[0].ok()
