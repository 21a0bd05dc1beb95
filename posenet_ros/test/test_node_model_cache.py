"""
posenet_node and the TFLite model cache.

With its model cached the node never loads TensorFlow; with an empty cache it converts the
model in a child process, caches it, and still never loads TensorFlow itself. `num_threads`
goes to the interpreter.
"""
from __future__ import annotations

import os
from pathlib import Path
import subprocess
import sys

from node_support import (assert_same_poses, load_rgb, running_node,
                          tensorflow_libraries_loaded)
from posenet_ros.engine.config import EstimateConfig
from posenet_ros.engine.estimator import PoseEstimator
from posenet_ros.ros.image_conversion import rgb_to_image_msg
import pytest

pytestmark = pytest.mark.dds  # starts nodes and talks to them over DDS

MODEL = 'mobilenet_quant2_050'
# The node's defaults for the network: stride 16, 481 wide, 353 high.
CONFIG = EstimateConfig(output_stride=16, input_height=353, input_width=481)
MIN_POSE_SCORE = 0.15
PHOTO = 'smoke/zidane.jpg'


def cached_models(cache: Path) -> list[Path]:
    return sorted((cache / 'tflite').glob('*.tflite'))


@pytest.fixture
def rgb(data_path):
    return load_rgb(data_path / PHOTO)


@pytest.mark.parametrize('warm', [True, False], ids=['warm cache', 'cold cache'])
def test_the_node_runs_without_loading_tensorflow(warm, tmp_path, models_path, rgb, monkeypatch):
    cache = tmp_path / 'cache'
    weights = str(models_path / MODEL)
    if warm:
        prepared = subprocess.run(
            [sys.executable, '-m', 'posenet_ros.tools.estimate', '--prepare', '--model', weights,
             '--resolution', f'{CONFIG.input_height}x{CONFIG.input_width}', '--quiet'],
            env=dict(os.environ, POSENET_CACHE=str(cache)), capture_output=True, text=True,
            timeout=300)
        assert prepared.returncode == 0, prepared.stderr
        assert [Path(prepared.stdout.strip())] == cached_models(cache)
    monkeypatch.setenv('POSENET_CACHE', str(cache))
    parameters = {'model': weights, 'num_threads': 1,
                  'qos_overrides./image.subscription.reliability': 'reliable'}
    message = rgb_to_image_msg(rgb)
    with running_node(f'model_cache_{warm}', parameters, tmp_path, message) as (node, client):
        answer = client.exchange(message)
        assert tensorflow_libraries_loaded(node.process.pid) == []
        assert '1 thread(s)' in node.log()
        built = 'built the TFLite model 353x481 stride 16 in a child process' in node.log()
        assert built is not warm, node.log()
    assert len(cached_models(cache)) == 1
    expected = PoseEstimator(weights, device='cpu').estimate(rgb, CONFIG)
    assert expected.poses
    assert_same_poses(answer, expected, MIN_POSE_SCORE)
