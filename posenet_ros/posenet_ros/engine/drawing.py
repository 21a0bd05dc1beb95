"""
Poses drawn over the image they came from: skeleton lines and joint dots, coloured by score.

Used by the node's `poses/image` topic, the demo and `posenet_estimate --draw`; `score_colors` is
also the colour scale of the RViz markers, so every view of a pose reads the same way.
"""
from __future__ import annotations

import colorsys
from typing import Iterable

import cv2
import numpy as np

from .parts import NUM_KEYPOINTS, SKELETON
from .postprocess import mirror_x
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


def track_color(track_id: int) -> tuple[int, int, int]:
    """Return a bright RGB (0..255) of its own for each track id; grey for 0 (not tracked)."""
    if track_id <= 0:
        return (160, 160, 160)
    hue = (track_id * 0.6180339887) % 1.0  # golden-ratio steps: neighbouring ids differ most
    return tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(hue, 0.85, 1.0))


def person_sizes_px(points: np.ndarray, thickness: int, radius: int) -> tuple[int, int]:
    """
    Return the line width and joint radius for one person.

    The image's (`line_width_px`, `joint_radius_px`), made smaller for a person too small to
    carry them (a person h px tall gets at most h / 50 px lines and h / 30 px dots), so joints
    never hide a distant person.
    """
    if len(points) < 2:
        return thickness, radius
    height = float(np.ptp(points[:, 1]))
    return (max(1, min(thickness, round(height / 50))), max(1, min(radius, round(height / 30))))


def draw_poses(image_rgb: np.ndarray, poses: Iterable[Pose], min_pose_score: float = 0.0,
               min_keypoint_score: float = 0.1, track_ids=None,
               flip_horizontal: bool = False) -> np.ndarray:
    """
    Return a copy of `image_rgb` (H, W, 3 uint8) with `poses` (source-image pixels) drawn on it.

    Poses scoring below `min_pose_score` and keypoints below `min_keypoint_score` are not drawn; a
    limb is drawn when both its ends are. Joints are coloured by their score, limbs by the mean of
    their two ends (`score_colors`); line width and dot size grow with the image. With
    `track_ids` (one per pose) limbs take the colour of their track (`track_color`) and each
    tracked pose is labelled with its id. With `flip_horizontal` the poses are mirrored ones
    (`EstimateConfig.flip_horizontal`) and are drawn mirrored back, onto the person.
    """
    image = np.asarray(image_rgb)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'expected an (H, W, 3) uint8 RGB image, got {image.dtype} {image.shape}')
    canvas = np.array(image, order='C', copy=True)
    height, width = canvas.shape[:2]
    image_thickness = line_width_px(height, width)
    image_radius = joint_radius_px(height, width)
    poses = list(poses)
    ids = [None] * len(poses) if track_ids is None else [int(i) for i in track_ids]
    for pose, track_id in zip(poses, ids):
        if float(pose.score) < min_pose_score:
            continue
        scores = np.asarray(pose.keypoint_scores, dtype=np.float64).reshape(NUM_KEYPOINTS)
        coords = np.asarray(pose.keypoint_coords, dtype=np.float64).reshape(NUM_KEYPOINTS, 2)
        if flip_horizontal:
            coords = mirror_x(coords, width)
        shown = (scores >= min_keypoint_score) & np.isfinite(coords).all(axis=1)
        points = np.round(np.clip(np.nan_to_num(coords), -_FAR, _FAR) * _SUBPIXEL).astype(np.int64)
        points = points.tolist()
        thickness, radius = person_sizes_px(coords[shown], image_thickness, image_radius)
        outline = max(1, thickness // 2)
        for a, b in SKELETON:
            if shown[a] and shown[b]:
                color = (_rgb255(score_colors((scores[a] + scores[b]) / 2)[0])
                         if track_id is None else track_color(track_id))
                cv2.line(canvas, points[a], points[b], color, thickness, cv2.LINE_AA,
                         _SUBPIXEL_BITS)
        joint_colors = score_colors(scores)
        for part in np.flatnonzero(shown).tolist():
            center = points[part]
            cv2.circle(canvas, center, (radius + outline) * _SUBPIXEL, _OUTLINE_RGB, -1,
                       cv2.LINE_AA, _SUBPIXEL_BITS)
            cv2.circle(canvas, center, radius * _SUBPIXEL, _rgb255(joint_colors[part]), -1,
                       cv2.LINE_AA, _SUBPIXEL_BITS)
        if track_id and shown.any():
            _label(canvas, f'#{track_id}', coords[shown], track_color(track_id),
                   image_thickness)
    return canvas


def _label(canvas: np.ndarray, text: str, points: np.ndarray, color, thickness: int) -> None:
    """`text` just above the topmost of `points`, outlined so it reads on any background."""
    scale = 0.5 * thickness
    (width, height), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    top = points[np.argmin(points[:, 1])]
    x = int(np.clip(top[0] - width / 2, 0, max(canvas.shape[1] - width, 0)))
    y = int(np.clip(top[1] - 3 * thickness, height, canvas.shape[0] - 1))
    cv2.putText(canvas, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, _OUTLINE_RGB,
                thickness + 2, cv2.LINE_AA)
    cv2.putText(canvas, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, color, thickness,
                cv2.LINE_AA)


def _rgb255(color01: np.ndarray) -> tuple[int, int, int]:
    return tuple(int(round(c * 255)) for c in color01)
