"""From model-input pixels back to the source image, as tfjs-models `scaleAndFlipPoses`."""
from __future__ import annotations

import numpy as np

from .types import Padding, Pose


def mirror_x(coords, image_width: int) -> np.ndarray:
    """
    Return a float64 copy of (..., 2) pixels mirrored left-right, x' = image_width - 1 - x.

    Its own inverse. `flip_horizontal` mirrors the poses, not the image: where poses meet the
    image again (its depth, a drawing on it) they are mirrored back.
    """
    mirrored = np.array(coords, dtype=np.float64, copy=True)
    mirrored[..., 0] = (image_width - 1) - mirrored[..., 0]
    return mirrored


def scale_and_flip_poses(poses: list[Pose], image_height: int, image_width: int,
                         input_height: int, input_width: int, padding: Padding,
                         flip_horizontal: bool = False) -> list[Pose]:
    """
    Return new poses in source-image pixels (the inputs are left untouched).

    The network saw the image zero-padded by `padding` and resized to input_height x
    input_width: undo the resize, then the padding. With `flip_horizontal`, mirror x as
    x' = image_width - 1 - x (the original mirrors the result, not the image).
    """
    if input_height < 1 or input_width < 1:
        raise ValueError(f'input size must be positive, got {input_height}x{input_width}')
    scale_y = (image_height + padding.top + padding.bottom) / input_height
    scale_x = (image_width + padding.left + padding.right) / input_width
    scaled = []
    for pose in poses:
        coords = np.asarray(pose.keypoint_coords, dtype=np.float64)
        x = coords[:, 0] * scale_x + -padding.left
        y = coords[:, 1] * scale_y + -padding.top
        if flip_horizontal and image_width > 0:
            x = (image_width - 1) - x
        scaled.append(Pose(score=pose.score,
                           keypoint_scores=np.array(pose.keypoint_scores, dtype=np.float64),
                           keypoint_coords=np.stack([x, y], axis=1)))
    return scaled
