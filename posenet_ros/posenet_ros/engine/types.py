# noqa: A005 - only ever imported as posenet_ros.engine.types; never shadows stdlib types
"""Plain result types shared by the decoders, the estimator and the ROS adapter."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Pose:
    """
    One person: a score and 17 keypoints in part order (see `parts.PART_NAMES`).

    `keypoint_coords` is (17, 2) float64, columns (x, y), in whatever frame the producer says:
    model-input pixels straight out of a decoder, source-image pixels after
    `postprocess.scale_and_flip_poses`. `keypoint_scores` is (17,) float64, 0..1.
    """

    score: float
    keypoint_scores: np.ndarray
    keypoint_coords: np.ndarray


@dataclass
class Padding:
    """Zero padding added around the source image to reach the model's aspect ratio (pixels)."""

    top: int = 0
    bottom: int = 0
    left: int = 0
    right: int = 0


@dataclass
class NetworkOutputs:
    """
    What PoseNet's four heads produce for one image, as float32 (height, width, channels).

    heatmap_scores: 17 channels, already through the sigmoid.
    offsets: 34 channels, 0-16 y offsets then 17-33 x offsets (model-input pixels).
    displacements_fwd / displacements_bwd: 32 channels, 16 edges of y then 16 edges of x.
    """

    heatmap_scores: np.ndarray
    offsets: np.ndarray
    displacements_fwd: np.ndarray
    displacements_bwd: np.ndarray


@dataclass
class EstimateResult:
    """Poses in source-image pixels plus what it took to get them."""

    poses: list[Pose]
    image_height: int
    image_width: int
    input_height: int
    input_width: int
    output_stride: int
    timings_ms: dict[str, float] = field(default_factory=dict)
