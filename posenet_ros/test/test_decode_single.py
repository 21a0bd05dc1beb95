"""Single-person decoder: the same pose, bit for bit, as the original on real network outputs."""
from __future__ import annotations

import re

from decode_support import (assert_same_poses, estimator_or_skip, Oracle, oracle_node_modules,
                            tflite_outputs)
import numpy as np
from posenet_ros.engine.config import EstimateConfig
from posenet_ros.engine.decode_single import decode_single_pose
from posenet_ros.engine.image_io import load_image_rgb
from posenet_ros.engine.types import NetworkOutputs
import pytest

PHOTOS = ('smoke/zidane.jpg', 'smoke/skimage_astronaut.jpg', 'coco_kpts/images/000000000139.jpg')


@pytest.fixture(scope='module')
def photos(data_path):
    return {name: load_image_rgb(data_path / name) for name in PHOTOS}


@pytest.fixture(scope='module')
def coral_outputs(models_path, photos):
    return {name: tflite_outputs(models_path, image, size=(481, 641))
            for name, image in photos.items()}


def test_matches_original_bit_for_bit(models_path, photos, coral_outputs):
    """Coral outputs (stride 16) and, with our estimator, float outputs at strides 8 and 16."""
    cases = [(f'coral {name}', outputs, 16) for name, outputs in coral_outputs.items()]
    estimator = estimator_or_skip(models_path, 'mobilenet_float_050')
    for stride in (8, 16):
        config = EstimateConfig(output_stride=stride, input_height=257, input_width=257,
                                decoding='single')
        cases += [(f'ours s{stride} {name}', estimator.infer(image, config)[0], stride)
                  for name, image in photos.items()]
    oracle = Oracle(oracle_node_modules())
    jobs = [oracle.single(outputs, stride) for _, outputs, stride in cases]
    answers = oracle.run()
    for (label, outputs, stride), job in zip(cases, jobs):
        pose = decode_single_pose(outputs.heatmap_scores, outputs.offsets, stride)
        assert_same_poses([pose], answers[job], label)


def test_ties_take_the_first_cell_in_row_major_order(coral_outputs):
    """A flat heatmap channel (every cell ties): the original picks cell (0, 0), and so do we."""
    outputs = coral_outputs['smoke/zidane.jpg']
    heatmap = outputs.heatmap_scores.copy()
    heatmap[..., 4] = 0.25
    heatmap[3, 7, 9] = heatmap[2, 11, 9] = heatmap[..., 9].max()
    oracle = Oracle(oracle_node_modules())
    job = oracle.single(NetworkOutputs(heatmap, outputs.offsets, outputs.displacements_fwd,
                                       outputs.displacements_bwd), 16)
    pose = decode_single_pose(heatmap, outputs.offsets, 16)
    assert_same_poses([pose], oracle.run()[job], 'ties')
    assert pose.keypoint_coords[4].tolist() == [float(outputs.offsets[0, 0, 21]),
                                                float(outputs.offsets[0, 0, 4])]


def test_pose_score_is_the_mean_of_part_scores(coral_outputs):
    for outputs in coral_outputs.values():
        pose = decode_single_pose(outputs.heatmap_scores, outputs.offsets, 16)
        assert pose.score == pytest.approx(pose.keypoint_scores.mean(), abs=1e-15)
        assert pose.keypoint_scores.tolist() == outputs.heatmap_scores.reshape(
            -1, 17).max(axis=0).astype(np.float64).tolist()


def test_malformed_outputs_are_refused(coral_outputs):
    outputs = coral_outputs['smoke/zidane.jpg']
    with pytest.raises(ValueError, match=re.escape('offsets must be a (height, width, 34)')):
        decode_single_pose(outputs.heatmap_scores, outputs.offsets[..., :17], 16)
    with pytest.raises(ValueError, match='output_stride'):
        decode_single_pose(outputs.heatmap_scores, outputs.offsets, 16.5)
    with pytest.raises(ValueError, match='NaN'):
        decode_single_pose(outputs.heatmap_scores * np.inf, outputs.offsets, 16)
