"""
Keypoint refinement: let the cells around a keypoint vote on where it is.

A decoder places each keypoint with the offset vector of a single heatmap cell. Every cell near
a body part predicts that part's position (cell + offset), so the 3x3 cells around the keypoint
hold nine estimates of it. Refinement replaces the position with their mean, weighted by each
cell's heatmap score and by a Gaussian of the distance between its estimate and the decoded
position (sigma = half a stride), so that a cell pointing at another person barely counts.
It is a local form of PersonLab's Hough voting. Scores are left as decoded.
"""
from __future__ import annotations

import numpy as np

from .parts import NUM_KEYPOINTS
from .types import Pose

# Cells voted over: the nearest cell and its neighbours up to this many cells away.
VOTE_RADIUS_CELLS = 1
# Width of the distance weighting, in output strides.
VOTE_SIGMA_STRIDES = 0.5
_MIN_TOTAL_WEIGHT = 1e-12

_STEPS = np.arange(-VOTE_RADIUS_CELLS, VOTE_RADIUS_CELLS + 1)
_WINDOW_DY, _WINDOW_DX = (a.reshape(-1) for a in np.meshgrid(_STEPS, _STEPS, indexing='ij'))


def refine_keypoints(poses: list[Pose], heatmap_scores: np.ndarray, offsets: np.ndarray,
                     output_stride: int) -> list[Pose]:
    """
    Return new poses (model-input pixels) whose keypoints are the cells' vote around them.

    `heatmap_scores` (h, w, 17) and `offsets` (h, w, 34) are the maps the poses were decoded
    from; the input poses are left untouched.
    """
    if not poses:
        return []
    if heatmap_scores.ndim != 3 or offsets.shape[:2] != heatmap_scores.shape[:2]:
        raise ValueError(f'heatmap {heatmap_scores.shape} and offsets {offsets.shape} must share '
                         'one (h, w) grid')
    height, width = heatmap_scores.shape[:2]
    stride = float(output_stride)
    coords = np.stack([np.asarray(p.keypoint_coords, dtype=np.float64) for p in poses])  # P,17,2
    x, y = coords[..., 0], coords[..., 1]
    parts = np.broadcast_to(np.arange(NUM_KEYPOINTS), x.shape)
    cell_y = np.clip(np.floor(y / stride + 0.5), 0, height - 1).astype(np.intp)
    cell_x = np.clip(np.floor(x / stride + 0.5), 0, width - 1).astype(np.intp)
    # Window cells along a last axis; cells off the grid get no vote.
    vote_y = cell_y[..., None] + _WINDOW_DY
    vote_x = cell_x[..., None] + _WINDOW_DX
    on_grid = (vote_y >= 0) & (vote_y < height) & (vote_x >= 0) & (vote_x < width)
    vote_y, vote_x = np.clip(vote_y, 0, height - 1), np.clip(vote_x, 0, width - 1)
    part = parts[..., None]
    estimate_y = vote_y * stride + offsets[vote_y, vote_x, part]
    estimate_x = vote_x * stride + offsets[vote_y, vote_x, NUM_KEYPOINTS + part]
    squared = (estimate_y - y[..., None]) ** 2 + (estimate_x - x[..., None]) ** 2
    sigma = VOTE_SIGMA_STRIDES * stride
    closeness = np.exp(-squared / (2.0 * sigma * sigma))
    weight = heatmap_scores[vote_y, vote_x, part] * closeness * on_grid
    total = weight.sum(axis=-1)
    voted = total > _MIN_TOTAL_WEIGHT
    safe_total = np.where(voted, total, 1.0)
    new_y = np.where(voted, (weight * estimate_y).sum(axis=-1) / safe_total, y)
    new_x = np.where(voted, (weight * estimate_x).sum(axis=-1) / safe_total, x)
    return [Pose(score=pose.score,
                 keypoint_scores=np.array(pose.keypoint_scores, dtype=np.float64),
                 keypoint_coords=np.stack([new_x[i], new_y[i]], axis=1))
            for i, pose in enumerate(poses)]
