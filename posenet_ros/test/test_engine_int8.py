"""
int8 precision against float32, and float32 left as it was.

COCO AP on a sample of val photos against float32, the same people found at nearly the same
places, calibrated models saved and reused.

Calibration uses COCO photos that are not val photos (never the photos it is scored on). The
full study (44 photos, every variant, both settings) is docs/int8.md.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
from posenet_ros.engine import EstimateConfig, PoseEstimator
from posenet_ros.engine.image_io import load_image_rgb
from posenet_ros.engine.int8_backend import read_calibration_images
from posenet_ros.engine.results_json import config_record, result_record, results_document
from posenet_tools.eval import evaluate_results, load_annotations
from posenet_tools.int8_study import calibration_photos
import pytest

MODEL = 'mobilenet_quant2_075'
# PoseNet's multi-pose eval settings at the node's recommended size, and the yaml's options.
POSENET = EstimateConfig(output_stride=16, input_height=353, input_width=481,
                         max_pose_detections=10, score_threshold=0.1, nms_radius=30.0)
YAML = EstimateConfig(output_stride=16, input_height=353, input_width=481,
                      max_pose_detections=10, score_threshold=0.1, nms_radius=30.0,
                      refine_keypoints=True, pose_score_keypoints=5)
SAMPLE = 24          # val photos scored (of 44), every other one: about 10 s a precision
CALIBRATION = 16     # non-val photos calibrated on (53 in the study; 16 is within 0.005 AP)
# Measured on this sample (calibration 16): float32 0.115 / 0.125, int8 0.110 / 0.119
# (PoseNet's / the yaml's settings without match_aspect_ratio; 0.116 / 0.129 with the int8
# recipe before its first layers ran in float). Allowed: 0.02 below float32
# (the study's bar is 0.01 on all 44 photos; a 24-photo sample moves more between runs).
AP_MARGIN = 0.02


@pytest.fixture(scope='module')
def coco(data_path):
    folder = data_path / 'coco_kpts'
    ground_truth = load_annotations(folder / 'annotations_val2017.json')
    val = ground_truth.loadImgs(sorted(ground_truth.getImgIds()))[::2][:SAMPLE]
    return {
        'ground_truth': ground_truth,
        'photos': [(image['id'], load_image_rgb(folder / 'images' / image['file_name']))
                   for image in val],
        'calibration': calibration_photos(CALIBRATION),  # photos not in the val set
    }


@pytest.fixture(scope='module')
def estimators(models_path, coco):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv('POSENET_MODELS', str(models_path))
        float32 = PoseEstimator(MODEL, backend='tflite')
        int8 = PoseEstimator(MODEL, backend='tflite', precision='int8',
                             calibration_images=coco['calibration'])
        yield {'float32': float32, 'int8': int8}


def _ap(estimator, config, coco) -> tuple[float, list]:
    records, results = [], []
    for image_id, rgb in coco['photos']:
        result = estimator.estimate(rgb, config)
        results.append(result)
        records.append(result_record(image_id, rgb.shape[1], rgb.shape[0], result.poses))
    document = results_document(config_record(config, MODEL, 'tflite'), records,
                                [0.0] * len(records))
    return evaluate_results(document, coco['ground_truth'])[0].ap, results


def test_int8_ap_stays_near_float32(estimators, coco):
    """
    Check COCO AP with int8 is within AP_MARGIN of float32's.

    With PoseNet's and the yaml's settings, on val photos it was not calibrated on.
    """
    for name, config in (('posenet', POSENET), ('yaml', YAML)):
        float_ap, _ = _ap(estimators['float32'], config, coco)
        int8_ap, _ = _ap(estimators['int8'], config, coco)
        print(f'{name}: AP float32 {float_ap:.3f}, int8 {int8_ap:.3f} on {SAMPLE} val photos')
        assert int8_ap >= float_ap - AP_MARGIN, (name, float_ap, int8_ap)


def test_int8_finds_the_same_people_at_nearly_the_same_places(estimators, coco):
    """
    Check confident poses: about as many as float32 finds, keypoints near float32's.

    Within a few pixels of float32's (reported; median and 90th percentile bounded).

    Measured: 53 / 53 poses, deviation median 0.71 px, 90th percentile 4.1 px, max 165 px (a
    keypoint moving to another heatmap cell: one cell is 16 input px, 21 image px here; with
    int8 from Conv2d_0 on: 53 / 54, 1.1 px, 7.4 px).
    """
    config = POSENET
    counts = {'float32': 0, 'int8': 0}
    deviations = []
    for _, rgb in coco['photos']:
        poses = {name: [pose for pose in estimator.estimate(rgb, config).poses
                        if pose.score >= 0.3]
                 for name, estimator in estimators.items()}
        for name in counts:
            counts[name] += len(poses[name])
        for pose in poses['float32']:
            if not poses['int8']:
                continue
            reference = pose.keypoint_coords
            nearest = min(poses['int8'], key=lambda other: np.mean(np.linalg.norm(
                other.keypoint_coords - reference, axis=1)))
            candidate = nearest.keypoint_coords
            confident = pose.keypoint_scores >= 0.5
            deviations.extend(np.linalg.norm(candidate - reference, axis=1)[confident])
    deviations = np.array(deviations)
    median, p90 = np.median(deviations), np.percentile(deviations, 90)
    print(f'poses (score >= 0.3): float32 {counts["float32"]}, int8 {counts["int8"]}; '
          f'keypoint deviation (score >= 0.5, px): median {median:.2f}, 90th pct {p90:.2f}, '
          f'max {deviations.max():.1f}')
    assert abs(counts['int8'] - counts['float32']) <= max(2, 0.1 * counts['float32'])
    assert median < 2.0 and p90 < 16.0


def test_a_saved_int8_model_is_used_as_calibrated(estimators, coco, models_path):
    """
    Check the model posenet_quantize saves gives the same poses in a new estimator.

    That estimator refuses, with the reason, a size it has no model and no calibration for.
    """
    model = estimators['int8'].int8_model(353, 481, 16)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv('POSENET_MODELS', str(models_path))
        reused = PoseEstimator(MODEL, backend='tflite', precision='int8', int8_models=[model])
    rgb = coco['photos'][0][1]
    expected = estimators['int8'].estimate(rgb, POSENET).poses
    got = reused.estimate(rgb, POSENET).poses
    assert [pose.score for pose in got] == [pose.score for pose in expected]
    with pytest.raises(ValueError, match='no int8 model for 257x257 stride 16'):
        reused.estimate(rgb, EstimateConfig())
    # Given to other weights (0.50), it would run in their place and be reported as them.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv('POSENET_MODELS', str(models_path))
        with pytest.raises(ValueError, match='made from other weights: its first layer has 24 '
                                             'channels, these have 16'):
            PoseEstimator('mobilenet_quant2_050', backend='tflite', precision='int8',
                          int8_models=[model])


def test_precision_is_checked_and_float32_by_default(models_path):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv('POSENET_MODELS', str(models_path))
        assert PoseEstimator(MODEL, backend='tflite').precision == 'float32'
        with pytest.raises(ValueError, match='precision must be one of'):
            PoseEstimator(MODEL, backend='tflite', precision='int4')
        with pytest.raises(ValueError, match="runs on backend 'tflite' only"):
            PoseEstimator(MODEL, backend='function', precision='int8', calibration_images=[])
        with pytest.raises(ValueError, match='needs calibration images'):
            PoseEstimator(MODEL, backend='tflite', precision='int8')


def test_calibration_frames_come_spread_from_a_video(data_path):
    frames = read_calibration_images(data_path / 'video' / 'vtest.avi', limit=5)
    assert len(frames) == 5
    assert all(frame.dtype == np.uint8 and frame.ndim == 3 for frame in frames)
    assert not np.array_equal(frames[0], frames[-1])


def test_posenet_quantize_then_posenet_estimate_int8(data_path, models_path, tmp_path, capsys):
    """
    Check posenet_quantize saves a model that posenet_estimate --precision int8 uses.

    posenet_quantize calibrates on photos; posenet_estimate --precision int8 --calibration
    MODEL uses the model, records the precision, and refuses what does not fit.
    """
    from posenet_ros.tools import estimate, quantize
    model = tmp_path / 'int8' / 'model_257_s16.tflite'
    photos = data_path / 'smoke'
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv('POSENET_MODELS', str(models_path))
        assert quantize.main([str(photos), '--resolution', '257', '--frames', '4',
                              '--out', str(model)]) == 0
        assert model.stat().st_size > 0 and not list(model.parent.glob('.*.tmp'))
        out = tmp_path / 'poses.json'
        assert estimate.main([str(photos), '--precision', 'int8', '--calibration', str(model),
                              '--json', str(out), '--quiet']) == 0
        document = json.loads(out.read_text())
        assert document['config']['precision'] == 'int8'
        assert sum(len(record['poses']) for record in document['results']) > 0
        assert estimate.main([str(photos), '--precision', 'int8', '--resolution', '353x481',
                              '--calibration', str(model), '--quiet']) == 2
        assert 'no int8 model for 353x481 stride 16' in capsys.readouterr().err
        with pytest.raises(SystemExit) as refused:
            estimate.main([str(photos), '--calibration', str(model)])
        assert refused.value.code == 2
        assert quantize.main([str(tmp_path / 'missing'), '--out', str(model)]) == 2


def test_a_process_without_tensorflow_calibrates_in_a_child_the_same_model(
        models_path, data_path, tmp_path):
    """
    Without TensorFlow loaded, calibration runs in a child process and gives the same model.

    The same bytes as calibrating in this process (which has TensorFlow), and the process
    itself never imports TensorFlow.
    """
    photos = [str(path) for path in sorted((data_path / 'smoke').glob('*.jpg'))[:2]]
    weights = str(models_path / 'mobilenet_quant2_050')
    script = (
        'import sys\n'
        'from posenet_ros.engine.estimator import PoseEstimator\n'
        'from posenet_ros.engine.image_io import load_image_rgb\n'
        f'frames = [load_image_rgb(p) for p in {photos!r}]\n'
        f"estimator = PoseEstimator({weights!r}, backend='tflite', precision='int8',\n"
        '                           calibration_images=frames)\n'
        'model = estimator.int8_model(129, 129, 16)\n'
        "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'\n"
        'sys.stdout.buffer.write(model)\n')
    child = subprocess.run([sys.executable, '-c', script], capture_output=True, timeout=600,
                           env=dict(os.environ, POSENET_CACHE=str(tmp_path / 'cache'),
                                    TF_CPP_MIN_LOG_LEVEL='2'))
    assert child.returncode == 0, child.stderr.decode(errors='replace')[-2000:]
    assert [p.name for p in (tmp_path / 'cache' / 'tflite').glob('*-int8-*.tflite')]
    here = PoseEstimator(weights, backend='tflite', precision='int8',
                         calibration_images=[load_image_rgb(path) for path in photos])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv('POSENET_CACHE', str(tmp_path / 'cache_here'))
        assert here.int8_model(129, 129, 16) == child.stdout


def test_a_damaged_int8_cache_entry_is_calibrated_again_in_a_child(
        models_path, data_path, tmp_path):
    """
    A damaged int8 cache entry is rebuilt as a missing one is: in a child process.

    The process, which had not loaded TensorFlow, says the entry was unusable, still has no
    TensorFlow, runs the new model and finds it stored whole in the damaged one's place.
    """
    photos = [str(path) for path in sorted((data_path / 'smoke').glob('*.jpg'))[:2]]
    weights = str(models_path / 'mobilenet_quant2_050')
    script = (
        'import logging, sys\n'
        'import numpy as np\n'
        'from posenet_ros.engine import load_weights, tflite_cache\n'
        'from posenet_ros.engine.image_io import load_image_rgb\n'
        'from posenet_ros.engine.network import PoseNetwork\n'
        'logging.basicConfig(level=logging.INFO)\n'
        f'frames = [load_image_rgb(p) for p in {photos!r}]\n'
        f"network = PoseNetwork(load_weights({weights!r}), backend='tflite', device='cpu',\n"
        "                      precision='int8', calibration_images=frames)\n"
        'entry = tflite_cache.entry_path(network.inference.cache_key(129, 129, 16))\n'
        'entry.parent.mkdir(parents=True)\n'
        "entry.write_bytes(b'not a whole model')\n"
        'outputs = network.run(frames[0], 129, 129, 16)[0]\n'
        "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'\n"
        'assert outputs.heatmap_scores.shape == (9, 9, 17)\n'
        'assert np.isfinite(outputs.heatmap_scores).all()\n'
        'assert tflite_cache.read_entry(entry) == network.inference.model_bytes(129, 129, 16)\n'
        'print(entry)\n')
    child = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                           timeout=600, env=dict(os.environ, POSENET_CACHE=str(tmp_path / 'cache'),
                                                 TF_CPP_MIN_LOG_LEVEL='2'))
    assert child.returncode == 0, child.stderr[-2000:]
    entry = child.stdout.strip().splitlines()[-1]
    assert f'rebuilding the TFLite model: cached file unusable: {entry}' in child.stderr
    assert 'calibrated the int8 model 129x129 stride 16 in a child process' in child.stderr
