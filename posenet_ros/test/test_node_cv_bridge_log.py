"""
posenet_node says at start, once, whether it can use cv_bridge and if not why.

On a system ROS 2 with a venv, an apt cv_bridge built for NumPy 1 / OpenCV 4 meets NumPy 2 /
OpenCV 5 and is refused by the start-up probe: the user must read that in the log, once, not
find it out from a skipped frame (docs/ros_interface.md).
"""
from __future__ import annotations

from node_support import DomainClaim, NodeProcess
from posenet_ros.ros.image_conversion import cv_bridge_status
import pytest

pytestmark = pytest.mark.dds


def test_the_cv_bridge_verdict_is_logged_once_at_start(models_path, tmp_path):
    _, verdict = cv_bridge_status()  # the same environment as the node's
    claim = DomainClaim('cv_bridge_log')
    node = NodeProcess(claim.domain_id, {'model': str(models_path / 'mobilenet_quant2_075')},
                       tmp_path / 'node.log')
    try:
        started = node.wait_for_log('listening on', timeout_s=120.0)
    finally:
        node.interrupt()
        claim.release()
    log = node.log()
    assert started, log[-3000:]
    lines = [line for line in log.splitlines() if 'cv_bridge' in line]
    assert len(lines) == 1 and verdict in lines[0], lines
