"""
Single-person decoding: each part where its heatmap peaks, as tfjs-models posenet 2.x does.

Fast and simple, but every part is taken from the whole image: with several people in view a
pose can mix body parts of different people. Use `decode_multi` then.
"""
from __future__ import annotations

import numpy as np

from .decode_common import check_network_outputs, check_output_stride, sequential_sum
from .parts import NUM_KEYPOINTS
from .types import Pose

_PARTS = np.arange(NUM_KEYPOINTS)


def decode_single_pose(heatmap_scores: np.ndarray, offsets: np.ndarray,
                       output_stride: int) -> Pose:
    """
    One pose in model-input pixels.

    Per part: the heatmap's highest cell (the first in row-major (y, x) order on ties), placed at
    cell * stride + offset. The original adds in float32 tensors, so this does too; the part's
    score is the heatmap there and the pose score their mean.
    """
    heatmap_scores, offsets = check_network_outputs(heatmap_scores, offsets)
    stride = check_output_stride(output_stride)
    height, width, _ = heatmap_scores.shape
    peak = heatmap_scores.reshape(height * width, NUM_KEYPOINTS).argmax(axis=0)
    cell_y, cell_x = np.divmod(peak, width)
    scores = heatmap_scores[cell_y, cell_x, _PARTS].astype(np.float64)
    y = (cell_y * stride).astype(np.float32) + offsets[cell_y, cell_x, _PARTS]
    x = (cell_x * stride).astype(np.float32) + offsets[cell_y, cell_x, _PARTS + NUM_KEYPOINTS]
    coords = np.stack([x, y], axis=1).astype(np.float64)
    return Pose(score=sequential_sum(scores) / NUM_KEYPOINTS, keypoint_scores=scores,
                keypoint_coords=coords)
