"""Multi-person decoder: the same poses, bit for bit, as the original on real network outputs."""
from __future__ import annotations

import itertools
import re

from decode_support import (assert_same_poses, estimator_or_skip, Oracle, oracle_node_modules,
                            tflite_outputs)
import numpy as np
from posenet_ros.engine.config import EstimateConfig
from posenet_ros.engine.decode_multi import (decode_multiple_poses, find_root_candidates,
                                             max_heap_pop_order)
from posenet_ros.engine.image_io import load_image_rgb
from posenet_ros.engine.types import NetworkOutputs
import pytest

PHOTOS = ('smoke/zidane.jpg', 'smoke/bus.jpg', 'smoke/skimage_astronaut.jpg',
          'coco_kpts/images/000000078915.jpg')
# (max detections, score threshold, NMS radius): library defaults, camera demo, and extremes
# that pop every candidate or stop early.
SETTINGS = ((5, 0.5, 20.0), (10, 0.1, 30.0), (40, 0.0, 8.0), (3, 0.9, 60.0))


@pytest.fixture(scope='module')
def photos(data_path):
    return {name: load_image_rgb(data_path / name) for name in PHOTOS}


@pytest.fixture(scope='module')
def coral_outputs(models_path, photos):
    return {name: tflite_outputs(models_path, image) for name, image in photos.items()}


def _outputs(array_source: NetworkOutputs):
    return (array_source.heatmap_scores, array_source.offsets, array_source.displacements_fwd,
            array_source.displacements_bwd)


def test_matches_original_bit_for_bit(coral_outputs):
    oracle = Oracle(oracle_node_modules())
    cases = []
    for (name, outputs), (count, score, nms) in itertools.product(coral_outputs.items(), SETTINGS):
        cases.append((f'{name} max={count} score={score} nms={nms}', outputs, count, score, nms,
                      oracle.multi(outputs, 16, count, score, nms)))
    answers = oracle.run()
    total = 0
    for label, outputs, count, score, nms, job in cases:
        ours = decode_multiple_poses(*_outputs(outputs), 16, count, score, nms)
        assert_same_poses(ours, answers[job], label)
        total += len(ours)
    assert total > 100  # the cases do find people


def test_tied_scores_follow_the_original_heap(coral_outputs):
    """The Coral model's uint8 heatmaps tie a lot; the decoder must pop ties as tfjs's heap."""
    outputs = coral_outputs['smoke/bus.jpg']
    flat = find_root_candidates(outputs.heatmap_scores, 0.0)
    scores = outputs.heatmap_scores.reshape(-1)[flat]
    assert np.unique(scores).size < scores.size / 2  # this input really is tie-heavy
    order = max_heap_pop_order(scores)
    assert sorted(order.tolist()) == list(range(scores.size))
    assert (np.diff(scores[order]) <= 0).all()
    assert not np.array_equal(order, np.argsort(-scores, kind='stable'))  # ties reorder


def test_float_outputs_of_our_network_match_original(models_path, photos):
    """Our estimator's float outputs, both strides, the camera demo's settings."""
    estimator = estimator_or_skip(models_path, 'mobilenet_quant2_075')
    oracle = Oracle(oracle_node_modules())
    cases = []
    for stride, name in itertools.product((8, 16), PHOTOS[:2]):
        config = EstimateConfig(output_stride=stride, input_height=353, input_width=481)
        outputs = estimator.infer(photos[name], config)[0]
        cases.append((f'{name} s{stride}', outputs, stride,
                      oracle.multi(outputs, stride, 10, 0.1, 30.0)))
    answers = oracle.run()
    for label, outputs, stride, job in cases:
        assert_same_poses(decode_multiple_poses(*_outputs(outputs), stride, 10, 0.1, 30.0),
                          answers[job], label)


def test_threshold_is_compared_in_float64(coral_outputs):
    """float32(0.7) is just below 0.7: the original (float64 compare) rejects it as a root."""
    outputs = coral_outputs['smoke/zidane.jpg']
    heatmap = np.full_like(outputs.heatmap_scores, 0.01)
    heatmap[5, 5, 0] = np.float32(0.7)
    heatmap[9, 9, 3] = np.nextafter(np.float32(0.7), np.float32(1))
    maps = (heatmap,) + _outputs(outputs)[1:]
    oracle = Oracle(oracle_node_modules())
    job = oracle.multi(NetworkOutputs(*maps), 16, 5, 0.7, 20.0)
    answer = oracle.run()[job]
    ours = decode_multiple_poses(*maps, 16, 5, 0.7, 20.0)
    assert_same_poses(ours, answer, 'threshold')
    assert len(ours) == 1 and ours[0].keypoint_scores[3] == heatmap[9, 9, 3]


def test_root_candidates_are_the_local_maxima(coral_outputs):
    """Vectorised search == the definition, cell by cell (window clamped at the borders)."""
    heatmap = coral_outputs['smoke/zidane.jpg'].heatmap_scores
    height, width, parts = heatmap.shape
    for threshold in (0.0, 0.1, 0.5):
        expected = []
        for y, x, k in itertools.product(range(height), range(width), range(parts)):
            score = heatmap[y, x, k]
            window = heatmap[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2, k]
            if score >= threshold and not (window > score).any():
                expected.append((y * width + x) * parts + k)
        assert find_root_candidates(heatmap, threshold).tolist() == expected


def test_results_respect_the_settings(coral_outputs):
    outputs = coral_outputs['smoke/bus.jpg']
    for count, score, nms in SETTINGS:
        poses = decode_multiple_poses(*_outputs(outputs), 16, count, score, nms)
        assert 1 <= len(poses) <= count
        for pose in poses:
            assert pose.keypoint_coords.shape == (17, 2) and pose.keypoint_scores.shape == (17,)
            assert 0.0 <= pose.score <= 1.0
            assert pose.keypoint_scores.max() >= score  # its root passed the threshold


@pytest.mark.parametrize('change, message', [
    (lambda m: (m[0][..., :16],) + m[1:], 'heatmap_scores must be a (height, width, 17)'),
    (lambda m: (m[0], m[1][:-1]) + m[2:], 'offsets grid'),
    (lambda m: m[:3] + (m[3][..., :31],), 'displacements_bwd must be'),
    (lambda m: (np.where(m[0] > 0.9, np.nan, m[0]),) + m[1:], 'NaN or infinite'),
])
def test_malformed_outputs_are_refused(coral_outputs, change, message):
    maps = change(_outputs(coral_outputs['smoke/zidane.jpg']))
    with pytest.raises(ValueError, match=re.escape(message)):
        decode_multiple_poses(*maps, 16)


@pytest.mark.parametrize('kwargs, message', [
    ({'output_stride': 0}, 'output_stride'), ({'max_pose_detections': 0}, 'max_pose_detections'),
    ({'max_pose_detections': 2.5}, 'max_pose_detections'),
    ({'score_threshold': float('nan')}, 'score_threshold'),
    ({'nms_radius': 0.0}, 'nms_radius'), ({'nms_radius': float('inf')}, 'nms_radius')])
def test_bad_settings_are_refused(coral_outputs, kwargs, message):
    settings = {'output_stride': 16, 'max_pose_detections': 5, 'score_threshold': 0.5,
                'nms_radius': 20.0} | kwargs
    with pytest.raises(ValueError, match=message):
        decode_multiple_poses(*_outputs(coral_outputs['smoke/zidane.jpg']), **settings)
