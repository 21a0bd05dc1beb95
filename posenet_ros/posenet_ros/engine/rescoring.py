"""
Pose scores that rank people better: the mean of a pose's best keypoint scores.

PoseNet scores a pose by the mean of all 17 keypoint scores, a keypoint claimed by an earlier
pose (within the NMS radius of the same part) counting as 0. That ranks a person seen from the
waist up, or partly hidden, below a poor guess at a whole person. Averaging only the k best
keypoint scores (claims still count as 0, so duplicates stay low) ranks poses closer to how well
they match a real person; k = 17 is the original score.
"""
from __future__ import annotations

import numpy as np

from .parts import NUM_KEYPOINTS
from .types import Pose


def claimed_keypoints(poses: list[Pose], nms_radius: float) -> np.ndarray:
    """(poses, 17) bool: keypoints within nms_radius of the same part of an earlier pose."""
    if not poses:
        return np.zeros((0, NUM_KEYPOINTS), dtype=bool)
    coords = np.stack([np.asarray(p.keypoint_coords, dtype=np.float64) for p in poses])
    squared = ((coords[:, None] - coords[None, :]) ** 2).sum(axis=-1)  # (i, j, part)
    earlier = np.tril(np.ones((len(poses), len(poses)), dtype=bool), k=-1)  # j < i
    return ((squared <= float(nms_radius) ** 2) & earlier[..., None]).any(axis=1)


def rescore_poses(poses: list[Pose], top_keypoints: int,
                  nms_radius: float | None = None) -> list[Pose]:
    """
    Return new poses (same order) scored by the mean of their `top_keypoints` best scores.

    With `nms_radius` (multi-pose decoding, model-input pixels, the poses in decoding order)
    claimed keypoints count as 0, as in PoseNet. Keypoint scores are left as they are.
    """
    if not 1 <= top_keypoints <= NUM_KEYPOINTS:
        raise ValueError(
            f'top_keypoints must be between 1 and {NUM_KEYPOINTS}, got {top_keypoints}')
    if not poses:
        return []
    scores = np.stack([np.asarray(p.keypoint_scores, dtype=np.float64) for p in poses])
    if nms_radius is not None:
        scores = np.where(claimed_keypoints(poses, nms_radius), 0.0, scores)
    best = np.sort(scores, axis=1)[:, NUM_KEYPOINTS - top_keypoints:]
    return [Pose(score=float(best[i].mean()),
                 keypoint_scores=np.array(pose.keypoint_scores, dtype=np.float64),
                 keypoint_coords=np.array(pose.keypoint_coords, dtype=np.float64))
            for i, pose in enumerate(poses)]
