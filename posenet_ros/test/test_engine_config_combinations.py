"""
Every estimation setting `EstimateConfig.check` accepts works; every one it refuses says why.

Hypothesis samples whole configurations (stride, input shape, decoding, options, thresholds);
each accepted one is run with the real weights on a real COCO photo of one person and must find
that person; each refused one must name the reason. Input sides are sampled up to 385 pixels
(plus the edge values), so the run stays bounded for CI (about 25 configurations, each a new
TFLite model); the refusals of larger and extreme shapes are checked without running them.
"""
from __future__ import annotations

import dataclasses
import json
import re

from hypothesis import event, given, HealthCheck, settings
from hypothesis import strategies as st
import numpy as np
from posenet_ros.engine.config import (EstimateConfig, input_size_for_image, MAX_INPUT_SIDE,
                                       MIN_INPUT_SIDE, smallest_input_side)
from posenet_ros.engine.image_io import load_image_rgb
from posenet_ros.engine.preprocess import FrameBudgetError
import pytest

PHOTO = '000000547336.jpg'  # one person, most of the 640x480 frame
MULTIPLIER = 0.75
REASONS = re.compile(r'too small|aspect ratio|pixel budget|needs multiplier|must be')


@pytest.fixture(scope='module')
def estimator(models_path):
    from posenet_ros.engine.estimator import PoseEstimator
    return PoseEstimator(str(models_path / 'mobilenet_quant2_075'))


@pytest.fixture(scope='module')
def person(data_path):
    """Return the photo and the annotated person's box (x, y, width, height)."""
    annotations = json.loads((data_path / 'coco_kpts' / 'annotations_val2017.json').read_text())
    image_id = int(PHOTO[:-4])
    boxes = [a['bbox'] for a in annotations['annotations'] if a['image_id'] == image_id]
    assert len(boxes) == 1
    return load_image_rgb(data_path / 'coco_kpts' / 'images' / PHOTO), boxes[0]


def finds_person(poses, box) -> bool:
    """Return a pose with at least 5 keypoints of score >= 0.5 on the person (box grown by 10%)."""
    x, y, width, height = box
    for pose in poses:
        coords = np.asarray(pose.keypoint_coords)
        inside = ((coords[:, 0] >= x - 0.1 * width) & (coords[:, 0] <= x + 1.1 * width)
                  & (coords[:, 1] >= y - 0.1 * height) & (coords[:, 1] <= y + 1.1 * height))
        if (inside & (np.asarray(pose.keypoint_scores) >= 0.5)).sum() >= 5:
            return True
    return False


# Mostly workable sides, so that most examples run; the edges and any side down to 1 too.
SIDES = st.one_of(st.integers(57, 385), st.integers(57, 385), st.integers(1, 385),
                  st.sampled_from((1, 17, 33, 48, 49, 56, 57, 64, 65, 97, 257, 353, 481)))
CONFIGS = st.builds(
    EstimateConfig,
    output_stride=st.sampled_from((8, 16, 16, 32)),  # 32 needs multiplier 1.00: refused
    input_height=SIDES, input_width=SIDES,
    decoding=st.sampled_from(('single', 'multi')),
    max_pose_detections=st.integers(1, 10),
    score_threshold=st.floats(0.0, 0.5),
    nms_radius=st.floats(1.0, 50.0),
    flip_horizontal=st.booleans(),
    match_aspect_ratio=st.booleans(),
    flip_test=st.booleans(),
    refine_keypoints=st.booleans(),
    pose_score_keypoints=st.integers(1, 17),
)


def test_every_accepted_configuration_finds_the_person(estimator, person):
    image, box = person
    outcomes = {'accepted': 0, 'refused': 0}

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(config=CONFIGS)
    def check(config):
        try:
            config.check(MULTIPLIER)
        except ValueError as error:
            assert REASONS.search(str(error)), f'refused without a reason: {error}'
            event('refused')
            outcomes['refused'] += 1
            return
        event('accepted')
        outcomes['accepted'] += 1
        result = estimator.estimate(image, config)
        found_box = box
        if config.flip_horizontal:  # poses mirrored: mirror the box
            found_box = (image.shape[1] - box[0] - box[2], *box[1:])
        assert finds_person(result.poses, found_box), (
            f'{config} (input {result.input_height}x{result.input_width}) found '
            f'{len(result.poses)} poses, none on the person')

    check()
    # Both sides were exercised: some configurations ran, some were refused with a reason.
    assert outcomes['accepted'] > 0 and outcomes['refused'] > 0, outcomes


@pytest.mark.parametrize('changes, reason', [
    ({'input_height': 1, 'input_width': 1}, r'input 1x1 .* too small: .*MIN_INPUT_SIDE = 57'),
    ({'input_height': 1, 'input_width': 4097}, r'too small'),
    ({'input_height': 4097, 'input_width': 1}, r'too small'),
    ({'input_height': 48, 'input_width': 257}, r'snapped to 49x257 .* too small.* least at stride '
                                               r'16 is 65'),
    ({'output_stride': 8, 'input_height': 57, 'input_width': 4097}, r'aspect ratio of 71.9'),
    ({'input_height': 257, 'input_width': 1041}, r'aspect ratio of 4.1, beyond '
                                                 r'MAX_INPUT_ASPECT_RATIO = 4'),
    ({'input_height': 17, 'input_width': 17, 'match_aspect_ratio': True},
     r'too small a pixel budget for match_aspect_ratio: .* 65x65'),
    ({'input_height': 33, 'input_width': 97, 'match_aspect_ratio': True}, r'pixel budget'),
])
def test_impossible_configurations_are_refused_with_the_reason(changes, reason):
    with pytest.raises(ValueError, match=reason):
        dataclasses.replace(EstimateConfig(), **changes).check(MULTIPLIER)


@pytest.mark.parametrize('changes', [
    {'input_height': 65, 'input_width': 65},
    {'output_stride': 8, 'input_height': 57, 'input_width': 57},
    {'input_height': 65, 'input_width': 257}, {'input_height': 1025, 'input_width': 257},
    {'input_height': 17, 'input_width': 4097, 'match_aspect_ratio': True},
    {'input_height': MAX_INPUT_SIDE, 'input_width': MAX_INPUT_SIDE}])
def test_workable_edges_are_accepted(changes):
    dataclasses.replace(EstimateConfig(), **changes).check(MULTIPLIER)


@pytest.mark.parametrize('image_size', [(1, 8192), (8192, 1), (480, 640), (3, 5)])
@pytest.mark.parametrize('stride', [8, 16, 32])
def test_matched_input_never_goes_below_the_minimum(image_size, stride):
    smallest = smallest_input_side(stride)
    size = input_size_for_image(*image_size, stride, pixel_budget=smallest * smallest)
    assert min(size) >= MIN_INPUT_SIDE
    long_side = input_size_for_image(*image_size, stride, long_side=1)
    assert min(long_side) >= MIN_INPUT_SIDE


def test_a_frame_over_the_memory_budget_is_refused_before_preprocessing(estimator):
    """A tall, thin frame in a wide input would be padded to 8192x32680 pixels (803 MB)."""
    thin = np.zeros((1, 8192, 3), np.uint8)
    config = EstimateConfig(input_height=257, input_width=257 * 4 - 3, flip_test=True)
    config.check(MULTIPLIER)
    with pytest.raises(FrameBudgetError,
                       match=r'a 1x8192 image padded .* \d+ MiB, more than MAX_FRAME_BYTES'):
        estimator.estimate(np.zeros((8192, 1, 3), np.uint8), config)
    assert estimator.estimate(thin, dataclasses.replace(config, flip_test=False)) is not None
