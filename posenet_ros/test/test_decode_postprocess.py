"""Back to source-image pixels: the original's scaleAndFlipPoses, bit for bit."""
from __future__ import annotations

import itertools

from decode_support import assert_same_poses, Oracle, oracle_node_modules
import numpy as np
from posenet_ros.engine.decode_common import js_round
from posenet_ros.engine.postprocess import scale_and_flip_poses
from posenet_ros.engine.types import Padding, Pose


def _random_poses(rng, count, height, width):
    return [Pose(score=float(rng.uniform()), keypoint_scores=rng.uniform(size=17),
                 keypoint_coords=np.c_[rng.uniform(-20, width + 20, 17),
                                       rng.uniform(-20, height + 20, 17)])
            for _ in range(count)]


# (source image h, w), (model input h, w), padding: the padding tfjs computes for these shapes,
# none, and odd asymmetric values.
CASES = [((426, 640), (257, 257), Padding(107, 107, 0, 0)),
         ((640, 427), (353, 481), Padding(0, 0, 222, 222)),
         ((480, 640), (353, 481), Padding(0, 0, 0, 0)),
         ((1, 3), (33, 17), Padding(5, 0, 1, 7))]


def test_matches_original_bit_for_bit():
    rng = np.random.default_rng(7)
    oracle = Oracle(oracle_node_modules())
    cases = []
    for (image, model_input, padding), flip in itertools.product(CASES, (False, True)):
        poses = _random_poses(rng, 3, *model_input)
        cases.append((f'{image} {model_input} {padding} flip={flip}', poses, image, model_input,
                      padding, flip, oracle.scale(poses, image, model_input, padding, flip)))
    answers = oracle.run()
    for label, poses, image, model_input, padding, flip, job in cases:
        scaled = scale_and_flip_poses(poses, *image, *model_input, padding, flip)
        for pose, answer in zip(poses, answers[job]):
            answer['score'] = pose.score  # the oracle is given no pose score; ours is kept
        assert_same_poses(scaled, answers[job], label)


def test_inputs_are_not_modified():
    poses = _random_poses(np.random.default_rng(1), 2, 257, 257)
    before = [pose.keypoint_coords.copy() for pose in poses]
    scaled = scale_and_flip_poses(poses, 480, 640, 257, 257, Padding(80, 80, 0, 0), True)
    assert all(np.array_equal(p.keypoint_coords, b) for p, b in zip(poses, before))
    assert all(s.score == p.score and np.array_equal(s.keypoint_scores, p.keypoint_scores)
               for s, p in zip(scaled, poses))


def test_flip_mirrors_about_the_image_centre():
    poses = _random_poses(np.random.default_rng(2), 1, 353, 481)
    plain = scale_and_flip_poses(poses, 480, 640, 353, 481, Padding(), False)[0]
    flipped = scale_and_flip_poses(poses, 480, 640, 353, 481, Padding(), True)[0]
    np.testing.assert_allclose(flipped.keypoint_coords[:, 0] + plain.keypoint_coords[:, 0], 639)
    np.testing.assert_array_equal(flipped.keypoint_coords[:, 1], plain.keypoint_coords[:, 1])


def test_js_round_is_math_round():
    values = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999999999999994, -0.49999999999999994,
              1e15 + 0.5, 4503599627370495.5, 7.499999999999999, 3.0, -3.0, 0.0]
    oracle = Oracle(oracle_node_modules())
    job = oracle.js_round(values)
    assert [js_round(v) for v in values] == oracle.run()[job]
