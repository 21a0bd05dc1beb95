"""Poses drawn over the image they came from: skeleton lines and joint dots, coloured by score.

Used by the node's `poses/image` topic, the demo and `posenet_estimate --draw`; `score_colors` is
also the colour scale of the RViz markers, so every view of a pose reads the same way.
"""
from __future__ import annotations

from typing import Iterable

import cv2
import numpy as np

from .parts import NUM_KEYPOINTS, SKELETON
from .types import Pose

_SUBPIXEL_BITS = 4  # OpenCV's fixed-point `shift`: positions are drawn to 1/16 pixel
_SUBPIXEL = 1 << _SUBPIXEL_BITS
_FAR = 1e6  # positions are clamped to +-this many pixels so the fixed-point values fit in int32
_OUTLINE_RGB = (24, 24, 24)


def score_colors(scores) -> np.ndarray:
    """(N, 3) RGB in 0..1 for scores in 0..1: red at 0, yellow at 0.5, green at 1."""
    s = np.clip(np.asarray(scores, dtype=np.float64).reshape(-1), 0.0, 1.0)
    return np.stack([np.minimum(1.0, 2.0 * (1.0 - s)), np.minimum(1.0, 2.0 * s), np.zeros_like(s)],
                    axis=1)


def line_width_px(image_height: int, image_width: int) -> int:
    """Skeleton line thickness: 2 px for a 640 px image, scaled with the longer side."""
    return max(1, round(2 * max(image_height, image_width) / 640))


def joint_radius_px(image_height: int, image_width: int) -> int:
    """Joint dot radius: 4 px for a 640 px image, scaled with the longer side."""
    return max(2, round(4 * max(image_height, image_width) / 640))


def draw_poses(image_rgb: np.ndarray, poses: Iterable[Pose], min_pose_score: float = 0.0,
               min_keypoint_score: float = 0.1) -> np.ndarray:
    """A copy of `image_rgb` (H, W, 3 uint8) with `poses` (source-image pixels) drawn on it.

    Poses scoring below `min_pose_score` and keypoints below `min_keypoint_score` are not drawn; a
    limb is drawn when both its ends are. Joints are coloured by their score, limbs by the mean of
    their two ends (`score_colors`); line width and dot size grow with the image.
    """
    image = np.asarray(image_rgb)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'expected an (H, W, 3) uint8 RGB image, got {image.dtype} {image.shape}')
    canvas = np.array(image, order='C', copy=True)
    height, width = canvas.shape[:2]
    thickness = line_width_px(height, width)
    radius = joint_radius_px(height, width)
    outline = max(1, thickness // 2)
    for pose in poses:
        if float(pose.score) < min_pose_score:
            continue
        scores = np.asarray(pose.keypoint_scores, dtype=np.float64).reshape(NUM_KEYPOINTS)
        coords = np.asarray(pose.keypoint_coords, dtype=np.float64).reshape(NUM_KEYPOINTS, 2)
        shown = (scores >= min_keypoint_score) & np.isfinite(coords).all(axis=1)
        points = np.round(np.clip(np.nan_to_num(coords), -_FAR, _FAR) * _SUBPIXEL).astype(np.int64)
        points = points.tolist()
        for a, b in SKELETON:
            if shown[a] and shown[b]:
                color = _rgb255(score_colors((scores[a] + scores[b]) / 2)[0])
                cv2.line(canvas, points[a], points[b], color, thickness, cv2.LINE_AA,
                         _SUBPIXEL_BITS)
        joint_colors = score_colors(scores)
        for part in np.flatnonzero(shown).tolist():
            center = points[part]
            cv2.circle(canvas, center, (radius + outline) * _SUBPIXEL, _OUTLINE_RGB, -1,
                       cv2.LINE_AA, _SUBPIXEL_BITS)
            cv2.circle(canvas, center, radius * _SUBPIXEL, _rgb255(joint_colors[part]), -1,
                       cv2.LINE_AA, _SUBPIXEL_BITS)
    return canvas


def _rgb255(color01: np.ndarray) -> tuple[int, int, int]:
    return tuple(int(round(c * 255)) for c in color01)
