"""PoseEstimator end to end against the original tfjs PoseNet 2.2.2's outputs on real photos."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
import threading

import numpy as np
from PIL import Image
from posenet_ros.engine import EstimateConfig, ModelNotFoundError, PoseEstimator
from posenet_ros.engine import estimator as estimator_module
import pytest

COCO_IMAGES_PER_FILE = 8


@pytest.fixture(scope='module')
def models_env(models_path):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv('POSENET_MODELS', str(models_path))
        yield models_path


@pytest.fixture(scope='module')
def estimators(models_env):
    return {name: PoseEstimator(name) for name in ('mobilenet_quant2_075', 'mobilenet_float_050')}


def reference_config(config: dict) -> EstimateConfig:
    resolution = config['res']
    height, width = ((resolution['height'], resolution['width']) if isinstance(resolution, dict)
                     else (resolution, resolution))
    return EstimateConfig(
        output_stride=config['stride'], input_height=height, input_width=width,
        decoding='multi' if config['mode'] == 'multi' else 'single',
        max_pose_detections=config['max'], score_threshold=config['score'],
        nms_radius=config['nms'], flip_horizontal=config['flip'])


def photo_path(data_path: Path, subset: str, image_id) -> Path:
    if subset == 'smoke':
        return data_path / 'smoke' / f'{image_id}.jpg'
    return data_path / 'coco_kpts' / 'images' / f'{int(image_id):012d}.jpg'


def load_rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert('RGB'))


def test_matches_the_original_on_reference_photos(estimators, data_path, reference_path):
    """
    Every reference file: same number of poses, 99% of keypoints within 0.5 px, scores within 1e-3.

    Both models, strides 8/16, single/multi/flip, square and 353x481.
    """
    distances, score_errors, count_mismatches, checked_files = [], [], [], 0
    for subset, limit in (('smoke', None), ('coco', COCO_IMAGES_PER_FILE)):
        for file in sorted((reference_path / subset).glob('*.json')):
            document = json.loads(file.read_text())
            estimator = estimators[document['config']['model']]
            config = reference_config(document['config'])
            for record in document['results'][:limit]:
                image = load_rgb(photo_path(data_path, subset, record['id']))
                assert (image.shape[1], image.shape[0]) == (record['width'], record['height'])
                result = estimator.estimate(image, config)
                if len(result.poses) != len(record['poses']):
                    count_mismatches.append((file.name, record['id']))
                for ours, theirs in zip(result.poses, record['poses']):
                    expected = np.array([[k['x'], k['y']] for k in theirs['keypoints']])
                    distances.extend(np.linalg.norm(ours.keypoint_coords - expected, axis=1))
                    score_errors.append(abs(ours.score - theirs['score']))
            checked_files += 1
    distances = np.array(distances)
    within = float(np.mean(distances <= 0.5))
    print(f'\nparity: {checked_files} reference files, {len(distances)} keypoints, '
          f'{100 * within:.2f}% within 0.5 px, median {np.median(distances):.4f} px, '
          f'max {distances.max():.4f} px, max pose score error {max(score_errors):.2e}')
    assert checked_files == 26
    assert not count_mismatches
    assert within >= 0.99
    assert max(score_errors) < 1e-3


def test_result_fields_timings_and_properties(estimators, data_path, models_env):
    estimator = estimators['mobilenet_quant2_075']
    assert estimator.model_name == 'mobilenet_quant2_075'
    assert estimator.model_path == (models_env / 'mobilenet_quant2_075').resolve()
    assert estimator.multiplier == 0.75
    assert estimator.device == '/CPU:0' or 'GPU' in estimator.device
    assert estimator.backend in ('tflite', 'function')
    image = load_rgb(data_path / 'smoke' / 'zidane.jpg')
    result = estimator.estimate(image, EstimateConfig(input_height=250, input_width=340))
    # Snapped as tfjs toValidInputResolution: floor(size / 16) * 16 + 1.
    assert (result.input_height, result.input_width, result.output_stride) == (241, 337, 16)
    assert (result.image_height, result.image_width) == image.shape[:2]
    assert {'preprocess', 'inference', 'decode', 'total'} <= set(result.timings_ms)
    assert all(value >= 0 for value in result.timings_ms.values())
    assert result.timings_ms['total'] >= result.timings_ms['inference']
    assert 1 <= len(result.poses) <= 5 and result.poses[0].score > 0.5
    coords = result.poses[0].keypoint_coords
    assert coords.shape == (17, 2) and result.poses[0].keypoint_scores.shape == (17,)
    confident = coords[result.poses[0].keypoint_scores > 0.5]  # in source-image pixels
    assert len(confident) and np.all((confident >= 0)
                                     & (confident < [image.shape[1], image.shape[0]]))


def test_infer_gives_network_outputs_padding_and_input_size(estimators, data_path):
    image = load_rgb(data_path / 'smoke' / 'bus.jpg')  # 810 x 1080: padded left and right
    outputs, padding, size = estimators['mobilenet_float_050'].infer(
        image, EstimateConfig(output_stride=8, input_height=260, input_width=260))
    assert size == (257, 257)
    assert outputs.heatmap_scores.shape == (33, 33, 17) and outputs.offsets.shape == (33, 33, 34)
    assert padding.left == padding.right > 0 and padding.top == padding.bottom == 0


@pytest.mark.parametrize('options', [
    {'decoding': 'single', 'flip_horizontal': True},
    {'match_aspect_ratio': True, 'refine_keypoints': True, 'pose_score_keypoints': 5,
     'max_pose_detections': 10, 'score_threshold': 0.1, 'nms_radius': 30.0},
])
def test_poses_from_outputs_gives_what_estimate_gives(estimators, data_path, options):
    """Tools that decode outputs they got elsewhere get the estimator's very poses."""
    from posenet_ros.engine import poses_from_outputs
    estimator = estimators['mobilenet_quant2_075']
    image = load_rgb(data_path / 'smoke' / 'zidane.jpg')
    config = EstimateConfig(input_height=353, input_width=481, **options)
    outputs, padding, (height, width) = estimator.infer(image, config)
    used = dataclasses.replace(config.snapped(), input_height=height, input_width=width)
    poses = poses_from_outputs(outputs, used, padding, image.shape[0], image.shape[1])
    expected = estimator.estimate(image, config).poses
    assert len(poses) == len(expected) > 0
    for ours, theirs in zip(poses, expected):
        assert ours.score == theirs.score
        assert np.array_equal(ours.keypoint_coords, theirs.keypoint_coords)
        assert np.array_equal(ours.keypoint_scores, theirs.keypoint_scores)


def test_changing_stride_and_size_never_reloads_weights(models_env, data_path, monkeypatch):
    loads = []
    original = estimator_module.load_weights
    monkeypatch.setattr(estimator_module, 'load_weights',
                        lambda *args, **kwargs: loads.append(args) or original(*args, **kwargs))
    estimator = PoseEstimator('mobilenet_quant2_050', backend='function')
    image = load_rgb(data_path / 'smoke' / 'skimage_astronaut.jpg')
    for stride, height, width in ((16, 257, 257), (8, 257, 257), (16, 353, 481), (8, 129, 161)):
        config = EstimateConfig(output_stride=stride, input_height=height, input_width=width)
        estimator.warmup(config)
        assert estimator.estimate(image, config).output_stride == stride
    assert len(loads) == 1


def test_bad_input_and_config_are_explained(estimators):
    estimator = estimators['mobilenet_quant2_075']
    config = EstimateConfig()
    with pytest.raises(ValueError, match='uint8'):
        estimator.estimate(np.zeros((64, 64, 3), np.float32), config)
    with pytest.raises(ValueError, match=r'\(height, width, 3\)'):
        estimator.estimate(np.zeros((64, 64, 4), np.uint8), config)
    with pytest.raises(ValueError, match='32 needs multiplier 1.00 or 1.01'):
        estimator.estimate(np.zeros((64, 64, 3), np.uint8), EstimateConfig(output_stride=32))
    with pytest.raises(ValueError, match="decoding must be 'single' or 'multi'"):
        estimator.warmup(EstimateConfig(decoding='both'))


def test_unknown_model_is_explained(models_env):
    with pytest.raises(ModelNotFoundError, match='unknown PoseNet model'):
        PoseEstimator('mobilenet_v3_large')


def test_multiplier_101_and_stride_32_plumbing(models_path, data_path, tmp_path):
    """
    Weights of multiplier 1.01 have the 1.00 shapes and run at stride 32.

    The only 1.0-architecture set here is quant1 (whose accuracy is destroyed by uint8 weights),
    so only shapes and plumbing are checked.
    """
    folder = tmp_path / 'mobilenet_v1_101'
    folder.mkdir()
    for item in (models_path / 'mobilenet_quant1_100').iterdir():
        (folder / item.name).symlink_to(item)
    estimator = PoseEstimator(str(folder), backend='function')
    assert (estimator.multiplier, estimator.model_name) == (1.01, 'mobilenet_v1_101')
    image = load_rgb(data_path / 'smoke' / 'zidane.jpg')
    result = estimator.estimate(image, EstimateConfig(output_stride=32, input_height=257,
                                                      input_width=353, decoding='single'))
    assert result.output_stride == 32 and len(result.poses) == 1
    estimator = PoseEstimator(str(models_path / 'mobilenet_quant1_100'), multiplier=1.01)
    assert estimator.multiplier == 1.01


def test_concurrent_callers_get_the_same_answers(estimators, data_path):
    """The ROS node may call from several executor threads; results must not mix."""
    estimator = estimators['mobilenet_quant2_075']
    images = [load_rgb(data_path / 'smoke' / name) for name in ('zidane.jpg', 'bus.jpg')]
    config = EstimateConfig(decoding='single')
    expected = [estimator.estimate(image, config).poses[0].keypoint_coords for image in images]
    got, errors = {}, []

    def worker(index):
        try:
            for _ in range(4):
                coords = estimator.estimate(images[index], config).poses[0].keypoint_coords
                np.testing.assert_allclose(coords, expected[index], atol=1e-6)
            got[index] = True
        except Exception as error:  # reported below, with the thread's assertion
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(i % 2,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(got) == 2


def test_views_and_read_only_buffers_work_like_copies(estimators, data_path):
    """Channel-swapped views (BGR -> RGB) and read-only buffers (ROS message data) are accepted."""
    estimator = estimators['mobilenet_quant2_075']
    bgr = np.ascontiguousarray(load_rgb(data_path / 'smoke' / 'zidane.jpg')[..., ::-1])
    read_only = np.frombuffer(bgr.tobytes(), np.uint8).reshape(bgr.shape)
    config = EstimateConfig(decoding='single')
    expected = estimator.estimate(np.ascontiguousarray(bgr[..., ::-1]), config).poses[0]
    for image in (bgr[..., ::-1], read_only[..., ::-1]):
        got = estimator.estimate(image, config).poses[0]
        np.testing.assert_array_equal(got.keypoint_coords, expected.keypoint_coords)
