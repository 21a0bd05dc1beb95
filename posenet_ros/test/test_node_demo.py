"""
The README's main job: `posenet_demo` streams a photo into posenet_node over ROS 2.

Two real nodes in their own processes (posenet_image_publisher, posenet_node), a line per
frame, annotated frames saved, both stopped cleanly, exit code 0 by itself.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

from node_support import DomainClaim
from PIL import Image
import pytest

pytestmark = pytest.mark.dds  # starts nodes and talks to them over DDS


def test_demo_runs_end_to_end_and_saves_annotated_frames(models_path, tmp_path):
    claim = DomainClaim('demo')
    try:
        env = dict(os.environ, ROS_DOMAIN_ID=str(claim.domain_id),
                   ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST', POSENET_MODELS=str(models_path))
        demo = shutil.which('posenet_demo')
        command = [demo] if demo else [sys.executable, '-m', 'posenet_ros.ros.demo']
        out = tmp_path / 'demo'
        # A parameter for the node, as the README shows: the node's, not the demo's own ROS
        # arguments (rclpy read name:=value as a deprecated remap rule and warned).
        result = subprocess.run(command + ['--frames', '5', '--rate', '5', '--out', str(out),
                                           '-p', 'decoding:=single'],
                                env=env, capture_output=True, text=True, timeout=240)
    finally:
        claim.release()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    frames = re.findall(r'^frame +\d+: +(\d+) (?:person|people).*latency +([\d.]+) ms$',
                        result.stdout, re.MULTILINE)
    assert len(frames) >= 5, result.stdout
    assert all(int(people) == 1 for people, _ in frames), 'Grace Hopper is alone in her photo'
    assert 'Traceback' not in output
    assert 'remap rule' not in output, output[-3000:]
    saved = sorted(out.glob('frame_*.jpg'))
    assert len(saved) >= 5
    with Image.open(saved[0]) as image:
        assert image.size == (512, 600)  # the photo's size: annotated, not resized
