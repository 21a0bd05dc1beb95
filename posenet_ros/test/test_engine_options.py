"""
The options beyond the original PoseNet: off by default, each doing what it promises.

EstimateConfig's match_aspect_ratio, flip_test, refine_keypoints, pose_score_keypoints, on
real photos (on COCO together: posenet_tools/test/test_accuracy_study.py).
"""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np
from posenet_ros.engine import EstimateConfig, PoseEstimator
from posenet_ros.engine.config import input_size_for_image, is_valid_input_size
from posenet_ros.engine.decode_multi import decode_multiple_poses
from posenet_ros.engine.flip_test import MIRRORED_PARTS
from posenet_ros.engine.image_io import load_image_rgb
from posenet_ros.engine.parts import PART_NAMES
from posenet_ros.engine.refine import refine_keypoints
from posenet_ros.engine.rescoring import rescore_poses
from posenet_ros.engine.results_json import (config_record, estimate_config_from_record,
                                             read_results, result_record)
from posenet_tools.parity import compare_results
import pytest

MODEL = 'mobilenet_quant2_075'
REFERENCE = f'{MODEL}_s16_r353x481_multi_demo.json'
DEMO = EstimateConfig(output_stride=16, input_height=353, input_width=481, decoding='multi',
                      max_pose_detections=10, score_threshold=0.1, nms_radius=30.0)


@pytest.fixture(scope='module')
def estimator(models_path):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv('POSENET_MODELS', str(models_path))
        yield PoseEstimator(MODEL, backend='tflite')


@pytest.fixture(scope='module')
def crowd_photo(data_path):
    """Return a real 640x428 COCO photo of several people."""
    return load_image_rgb(data_path / 'coco_kpts' / 'images' / '000000350679.jpg')


@pytest.fixture(scope='module')
def people_photo(data_path):
    return load_image_rgb(data_path / 'smoke' / 'zidane.jpg')


def mirror_pose(coords: np.ndarray, width: int) -> np.ndarray:
    """Return a pose's (17, 2) keypoints as seen in the image mirrored left-right."""
    mirrored = coords[MIRRORED_PARTS].copy()
    mirrored[:, 0] = (width - 1) - mirrored[:, 0]
    return mirrored


# -- defaults are the original -----------------------------------------------------------

def test_option_defaults_keep_the_originals_results(estimator, data_path, reference_path):
    """Spelled out, the default options reproduce the original's reference output."""
    reference = read_results(reference_path / 'coco' / REFERENCE)
    defaults = EstimateConfig()
    assert (defaults.match_aspect_ratio, defaults.flip_test, defaults.refine_keypoints,
            defaults.pose_score_keypoints) == (False, False, False, len(PART_NAMES))
    config = dataclasses.replace(DEMO, match_aspect_ratio=False, flip_test=False,
                                 refine_keypoints=False, pose_score_keypoints=17)
    records = reference['results'][:6]
    ours = {'config': reference['config'], 'results': []}
    for record in records:
        rgb = load_image_rgb(data_path / 'coco_kpts' / 'images' / f"{record['id']:012d}.jpg")
        result = estimator.estimate(rgb, config)
        ours['results'].append(result_record(record['id'], rgb.shape[1], rgb.shape[0],
                                             result.poses))
    report = compare_results(ours, {**reference, 'results': records})
    assert not report.failures(), report.summary()


def test_config_check_rejects_bad_option_values():
    for bad in ({'pose_score_keypoints': 0}, {'pose_score_keypoints': 18},
                {'pose_score_keypoints': True}, {'pose_score_keypoints': 2.5},
                # Whole-number floats passed, then failed slicing the scores on every frame.
                {'pose_score_keypoints': 5.0}, {'pose_score_keypoints': np.float64(17.0)},
                {'flip_test': 'yes'}, {'refine_keypoints': 1}, {'match_aspect_ratio': None}):
        name = next(iter(bad))
        with pytest.raises(ValueError, match=name):
            dataclasses.replace(DEMO, **bad).check(0.75)
    dataclasses.replace(DEMO, flip_test=True, refine_keypoints=True, match_aspect_ratio=True,
                        pose_score_keypoints=1).check(0.75)
    dataclasses.replace(DEMO, pose_score_keypoints=np.int64(5)).check(0.75)


# -- flip test -----------------------------------------------------------------------------

def test_flip_test_gives_mirrored_poses_on_a_mirrored_image(estimator, crowd_photo):
    """
    With the flip test the estimate is mirror-symmetric.

    The mirrored photo's people are the photo's people mirrored (left and right parts swapped).
    Plain PoseNet is not.
    """
    # The photo at the input size, so that preprocessing is only a normalisation and the
    # mirrored photo is exactly the mirrored network input.
    photo = cv2.resize(crowd_photo, (481, 353), interpolation=cv2.INTER_AREA)
    mirrored_photo = np.ascontiguousarray(photo[:, ::-1])
    width = photo.shape[1]

    def largest_deviations(config):
        """
        Return how far the mirrored photo's poses are from the photo's poses mirrored.

        As (px, pose score, keypoint score), each pose matched to the nearest (their order may
        differ).
        """
        poses = estimator.estimate(photo, config).poses
        mirrored = estimator.estimate(mirrored_photo, config).poses
        assert len(poses) >= 3 and mirrored
        worst = np.zeros(3)
        for pose in poses:
            expected = mirror_pose(pose.keypoint_coords, width)
            distances = [np.abs(other.keypoint_coords - expected).max() for other in mirrored]
            match = mirrored[int(np.argmin(distances))]
            worst = np.maximum(worst, [
                min(distances), abs(match.score - pose.score),
                np.abs(match.keypoint_scores - pose.keypoint_scores[MIRRORED_PARTS]).max()])
        return worst

    pixels, pose_score, keypoint_score = largest_deviations(
        dataclasses.replace(DEMO, flip_test=True))
    assert pixels < 0.01 and pose_score < 1e-4 and keypoint_score < 1e-4
    assert largest_deviations(DEMO)[0] > 0.5  # the plain network sees a mirror differently


def test_flip_test_runs_the_plain_pass_unchanged(estimator, people_photo):
    network = estimator._network
    plain, _, _ = network.run(people_photo, 353, 481, 16)
    first, second, _, _ = network.run_with_mirror(people_photo, 353, 481, 16)
    np.testing.assert_array_equal(first.heatmap_scores, plain.heatmap_scores)
    np.testing.assert_array_equal(first.offsets, plain.offsets)
    assert not np.array_equal(second.heatmap_scores, plain.heatmap_scores)


def test_flip_test_is_the_same_on_every_backend(models_path, people_photo, estimator):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv('POSENET_MODELS', str(models_path))
        batched = PoseEstimator(MODEL, backend='function')
    config = dataclasses.replace(DEMO, flip_test=True)
    ours = estimator.estimate(people_photo, config).poses
    theirs = batched.estimate(people_photo, config).poses
    assert len(ours) == len(theirs) >= 2
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.keypoint_coords, b.keypoint_coords, atol=0.05)
        assert a.score == pytest.approx(b.score, abs=1e-4)


# -- keypoint refinement and pose scores ----------------------------------------------------

def test_refinement_moves_keypoints_locally_and_keeps_everything_else(estimator, crowd_photo):
    outputs, _, _ = estimator.infer(crowd_photo, DEMO)
    poses = decode_multiple_poses(outputs.heatmap_scores, outputs.offsets,
                                  outputs.displacements_fwd, outputs.displacements_bwd, 16, 10,
                                  0.1, 30.0)
    refined = refine_keypoints(poses, outputs.heatmap_scores, outputs.offsets, 16)
    assert len(refined) == len(poses) >= 3
    moves = []
    for before, after in zip(poses, refined):
        assert after.score == before.score
        np.testing.assert_array_equal(after.keypoint_scores, before.keypoint_scores)
        moves.append(np.linalg.norm(after.keypoint_coords - before.keypoint_coords, axis=1))
    moves = np.concatenate(moves)
    assert moves.max() < 2 * 16      # a vote among the neighbouring cells, not a jump
    assert np.median(moves) > 0.1     # and it does move them


def test_pose_score_of_all_keypoints_is_the_originals(estimator, crowd_photo):
    """Scoring k = 17 keypoints with claims reproduces PoseNet's score; fewer only raise it."""
    outputs, _, _ = estimator.infer(crowd_photo, DEMO)
    poses = decode_multiple_poses(outputs.heatmap_scores, outputs.offsets,
                                  outputs.displacements_fwd, outputs.displacements_bwd, 16, 10,
                                  0.1, 30.0)
    assert len(poses) >= 3
    same = rescore_poses(poses, 17, nms_radius=30.0)
    np.testing.assert_allclose([p.score for p in same], [p.score for p in poses], atol=1e-12)
    best6 = rescore_poses(poses, 6, nms_radius=30.0)
    for before, after in zip(poses, best6):
        assert after.score >= before.score
        np.testing.assert_array_equal(after.keypoint_coords, before.keypoint_coords)
    with pytest.raises(ValueError, match='top_keypoints'):
        rescore_poses(poses, 0)


# -- input size from the aspect ratio -------------------------------------------------------

@pytest.mark.parametrize('image_size', [(480, 640), (640, 480), (427, 640), (640, 640),
                                        (100, 2000), (720, 1280)])
@pytest.mark.parametrize('stride', [8, 16])
def test_input_size_for_image_fits_budget_and_aspect(image_size, stride):
    height, width = image_size
    budget = 353 * 481
    size = input_size_for_image(height, width, stride, pixel_budget=budget)
    assert all(is_valid_input_size(side, stride) for side in size)
    assert size[0] * size[1] <= budget
    aspect = (size[1] / size[0]) / (width / height)
    assert abs(np.log(aspect)) < 0.2  # close to the image's aspect ratio
    long_side = input_size_for_image(height, width, stride, long_side=481)
    assert max(long_side) == 481 and all(is_valid_input_size(s, stride) for s in long_side)
    assert min(long_side) / 481 >= min(height, width) / max(height, width) - 1e-9


def test_input_size_for_image_rejects_nonsense():
    with pytest.raises(ValueError, match='exactly one'):
        input_size_for_image(480, 640, 16)
    with pytest.raises(ValueError, match='pixel_budget'):
        input_size_for_image(480, 640, 16, pixel_budget=100)
    with pytest.raises(ValueError, match='image size'):
        input_size_for_image(0, 640, 16, pixel_budget=10000)


def test_match_aspect_ratio_turns_the_input_for_a_portrait_photo(estimator, people_photo):
    portrait = np.ascontiguousarray(np.rot90(people_photo))  # 1280 x 720
    config = dataclasses.replace(DEMO, match_aspect_ratio=True)
    result = estimator.estimate(portrait, config)
    assert (result.input_height, result.input_width) == input_size_for_image(
        1280, 720, 16, pixel_budget=353 * 481)
    assert result.input_height > result.input_width
    assert result.poses and all(
        (-20 <= p.keypoint_coords[:, 0]).all() and (p.keypoint_coords[:, 0] <= 740).all()
        for p in result.poses if p.score > 0.3)
    # A 4:3 camera frame with a 4:3 input: nothing changes.
    frame = cv2.resize(people_photo, (640, 480))
    assert (estimator.estimate(frame, config).input_height,
            estimator.estimate(frame, config).input_width) == (353, 481)


def test_results_files_record_the_options_and_read_them_back():
    config = dataclasses.replace(DEMO, match_aspect_ratio=True, pose_score_keypoints=5)
    record = config_record(config, MODEL, 'tflite')
    assert record['options'] == {'match_aspect_ratio': True, 'pose_score_keypoints': 5}
    assert estimate_config_from_record(record) == config
    assert 'options' not in config_record(DEMO, MODEL, 'tflite')  # as in the original's files
