"""
posenet_node with precision int8 over DDS.

From a calibrated model at once, or float32 first while it calibrates on the camera's first
frames (in a child process: the node never loads TensorFlow), then int8 (both moments logged);
started again, it takes the model it calibrated from the cache.

What the node publishes is compared with `PoseEstimator` run here with the same precision and
calibration frames (the accuracy of int8 itself: test_engine_int8.py, docs/int8.md).
"""
from __future__ import annotations

import shutil

from node_support import (assert_same_poses, exchange_until_same, load_rgb, running_node,
                          tensorflow_libraries_loaded)
from posenet_ros.engine.config import EstimateConfig
from posenet_ros.engine.estimator import PoseEstimator
from posenet_ros.ros.image_conversion import rgb_to_image_msg
from posenet_ros.ros.stages.int8_calibration import FRAME_GAP
import pytest

pytestmark = pytest.mark.dds  # starts nodes and talks to them over DDS

MODEL = 'mobilenet_quant2_075'
# The node's defaults without a parameters file.
CONFIG = EstimateConfig(output_stride=16, input_height=353, input_width=481, decoding='multi',
                        max_pose_detections=5, score_threshold=0.5, nms_radius=20.0)
MIN_POSE_SCORE = 0.15
PHOTO = 'smoke/zidane.jpg'
CALIBRATION_FRAMES = 2


@pytest.fixture(scope='module')
def photo(data_path):
    return load_rgb(data_path / PHOTO)


@pytest.fixture(scope='module')
def estimators(models_path, photo):
    """float32, and int8 calibrated on the frames the node keeps when sent only this photo."""
    model = str(models_path / MODEL)
    return {'float32': PoseEstimator(model, backend='tflite'),
            'int8': PoseEstimator(model, backend='tflite', precision='int8',
                                  calibration_images=[photo] * CALIBRATION_FRAMES)}


@pytest.fixture(scope='module')
def results(estimators, photo):
    """Return float32's and int8's poses in the photo (their models made in the usual cache)."""
    return {precision: estimator.estimate(photo, CONFIG)
            for precision, estimator in estimators.items()}


@pytest.fixture
def float32_only_cache(tmp_path, estimators, results, monkeypatch):
    """Give the nodes started a model cache ($POSENET_CACHE) holding the float32 model alone."""
    cache = tmp_path / 'cache'
    (cache / 'tflite').mkdir(parents=True)
    estimators['float32'].warmup(CONFIG)
    float32_model = estimators['float32'].cached_model_path(CONFIG)
    shutil.copy(float32_model, cache / 'tflite' / float32_model.name)
    monkeypatch.setenv('POSENET_CACHE', str(cache))
    return cache


def test_int8_calibrates_on_the_first_frames_then_a_restart_reuses_the_model(
        models_path, photo, results, float32_only_cache, tmp_path):
    parameters = {'model': str(models_path / MODEL), 'precision': 'int8',
                  'int8_calibration_frames': CALIBRATION_FRAMES,
                  'qos_overrides./image.subscription.reliability': 'reliable'}
    message = rgb_to_image_msg(photo)
    float_result, int8_result = results['float32'], results['int8']
    assert [p.score for p in float_result.poses] != [p.score for p in int8_result.poses]
    with running_node('int8_first_frames', parameters, tmp_path, message) as (node, client):
        before = exchange_until_same(client, message, int8_result, float_result,
                                     MIN_POSE_SCORE, timeout_s=120.0)
        # frames kept: 1, 1 + FRAME_GAP, ...; the first exchange started the node
        assert before >= (CALIBRATION_FRAMES - 1) * FRAME_GAP - 1
        # calibrated in a child process: the node itself never loaded TensorFlow
        assert tensorflow_libraries_loaded(node.process.pid) == []
        log = node.log()
    assert 'or 2 camera frames are calibrated on' in log
    assert 'int8: calibrating on 2 camera frames in the background' in log
    assert 'int8: calibrated on 2 camera frames in' in log
    assert len(list((float32_only_cache / 'tflite').glob('*-int8-*.tflite'))) == 1

    # Started again (a robot's next boot): the model calibrated for this size is taken at once.
    with running_node('int8_restart', parameters, tmp_path, message) as (node, client):
        exchange_until_same(client, message, int8_result, float_result, MIN_POSE_SCORE,
                            timeout_s=30.0)
        assert tensorflow_libraries_loaded(node.process.pid) == []
        log = node.log()
    assert 'int8: using the model calibrated earlier for this size' in log
    assert 'calibrating on' not in log


def test_int8_from_a_saved_model_runs_int8_from_the_first_frame(
        models_path, photo, estimators, tmp_path):
    saved = tmp_path / 'int8_353x481_s16.tflite'
    saved.write_bytes(estimators['int8'].int8_model(353, 481, 16))
    parameters = {'model': str(models_path / MODEL), 'precision': 'int8',
                  'int8_calibration': str(saved),
                  'qos_overrides./image.subscription.reliability': 'reliable'}
    message = rgb_to_image_msg(photo)
    with running_node('int8_saved', parameters, tmp_path, message) as (node, client):
        assert_same_poses(client.exchange(message), estimators['int8'].estimate(photo, CONFIG),
                          MIN_POSE_SCORE)
        assert '(int8)' in node.log()
        assert tensorflow_libraries_loaded(node.process.pid) == []


@pytest.mark.parametrize('calibration', ['', 'photos'])
def test_int8_stays_float32_on_another_backend(models_path, data_path, photo, tmp_path,
                                               calibration):
    """
    Check a backend other than tflite (a GPU's) keeps float32 instead of failing to start.

    The package's parameters file asks for int8 on the first frames, and a robot's may name
    photos to calibrate on; on a GPU the node serves float32 there, and says so once.
    """
    parameters = {'model': str(models_path / MODEL), 'precision': 'int8', 'backend': 'function',
                  'int8_calibration_frames': 1,
                  'qos_overrides./image.subscription.reliability': 'reliable'}
    if calibration:
        photos = tmp_path / 'photos'
        photos.mkdir()
        (photos / 'zidane.jpg').symlink_to(data_path / PHOTO)
        parameters['int8_calibration'] = str(photos)
    message = rgb_to_image_msg(photo)
    expected = PoseEstimator(str(models_path / MODEL), backend='function').estimate(photo, CONFIG)
    with running_node('int8_other_backend', parameters, tmp_path, message) as (node, client):
        for _ in range(3):
            answer = client.exchange(message)
        log = node.log()
    assert_same_poses(answer, expected, MIN_POSE_SCORE)
    assert log.count('int8: runs on the tflite backend (CPU) only; staying on float32 with the '
                     'function') == 1, log
    assert 'calibrat' not in log.replace('int8_calibration', '')
