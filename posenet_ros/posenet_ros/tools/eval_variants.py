"""Estimation variants beyond the original, for measuring whether they raise COCO AP.

Each variant is a drop-in for `PoseEstimator.estimate` (same image, same EstimateConfig, poses in
source-image pixels) so `posenet-eval --run --variant NAME` scores it exactly like the original
path:

* `original`  the estimator as is (the parity path).
* `aspect`    input size from the image's own aspect ratio, at the same pixel budget as the
              configured input (so no zero padding is fed to the network).
* `mirror`    mirror-averaged network outputs: the image and its left-right mirror image go
              through the network, the mirror's outputs are flipped back (left and right parts
              swapped, x offsets and x displacements negated) and the two are averaged before
              decoding.
* `aspect+mirror` both.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from posenet_ros.engine.config import EstimateConfig, to_valid_input_size
from posenet_ros.engine.decode_multi import decode_multiple_poses
from posenet_ros.engine.decode_single import decode_single_pose
from posenet_ros.engine.parts import NUM_KEYPOINTS, PART_IDS, PART_NAMES, POSE_CHAIN
from posenet_ros.engine.postprocess import scale_and_flip_poses
from posenet_ros.engine.types import NetworkOutputs, Pose

VARIANTS = ('original', 'aspect', 'mirror', 'aspect+mirror')


def _mirror_name(name: str) -> str:
    if name.startswith('left_'):
        return 'right_' + name[len('left_'):]
    if name.startswith('right_'):
        return 'left_' + name[len('right_'):]
    return name


# Part k of a person is part MIRROR_PART[k] of its mirror image; likewise for chain edges.
MIRROR_PART = np.array([PART_IDS[_mirror_name(name)] for name in PART_NAMES])
MIRROR_EDGE = np.array([POSE_CHAIN.index((int(MIRROR_PART[a]), int(MIRROR_PART[b])))
                        for a, b in POSE_CHAIN])


def unmirror_outputs(mirrored: NetworkOutputs) -> NetworkOutputs:
    """The outputs of a mirrored image, expressed for the unmirrored one.

    Grid column j of the mirror is column W-1-j here. With input width (W-1)*stride+1, a point
    at j*stride + dx in the mirror lies at (W-1-j)*stride - dx here: x offsets and x
    displacements change sign, y ones do not, and left/right parts and edges trade places.
    """
    edges = len(POSE_CHAIN)
    heat = mirrored.heatmap_scores[:, ::-1, MIRROR_PART]
    off = mirrored.offsets[:, ::-1]
    offsets = np.concatenate([off[..., MIRROR_PART], -off[..., NUM_KEYPOINTS + MIRROR_PART]], -1)

    def displacements(d):
        d = d[:, ::-1]
        return np.concatenate([d[..., MIRROR_EDGE], -d[..., edges + MIRROR_EDGE]], -1)

    return NetworkOutputs(np.ascontiguousarray(heat, dtype=np.float32),
                          np.ascontiguousarray(offsets, dtype=np.float32),
                          np.ascontiguousarray(displacements(mirrored.displacements_fwd),
                                               dtype=np.float32),
                          np.ascontiguousarray(displacements(mirrored.displacements_bwd),
                                               dtype=np.float32))


def average_outputs(a: NetworkOutputs, b: NetworkOutputs) -> NetworkOutputs:
    return NetworkOutputs(*[(x + y) * np.float32(0.5) for x, y in
                            zip(dataclasses.astuple(a), dataclasses.astuple(b))])


def aspect_config(config: EstimateConfig, image_height: int, image_width: int) -> EstimateConfig:
    """The configured input's pixel budget, shaped like the image (valid sizes, snapped down)."""
    scale = math.sqrt(config.input_height * config.input_width / (image_height * image_width))
    stride = config.output_stride
    return dataclasses.replace(
        config, input_height=to_valid_input_size(round(image_height * scale), stride),
        input_width=to_valid_input_size(round(image_width * scale), stride))


def decode(outputs: NetworkOutputs, config: EstimateConfig) -> list[Pose]:
    if config.decoding == 'single':
        return [decode_single_pose(outputs.heatmap_scores, outputs.offsets, config.output_stride)]
    return decode_multiple_poses(
        outputs.heatmap_scores, outputs.offsets, outputs.displacements_fwd,
        outputs.displacements_bwd, config.output_stride, config.max_pose_detections,
        config.score_threshold, config.nms_radius)


def estimate_variant(estimator, image_rgb: np.ndarray, config: EstimateConfig,
                     variant: str) -> list[Pose]:
    """Poses in source-image pixels, as `estimator.estimate` gives them, for a variant."""
    if variant not in VARIANTS:
        raise ValueError(f'variant must be one of {", ".join(VARIANTS)}, got {variant!r}')
    if variant == 'original':
        return estimator.estimate(image_rgb, config).poses
    height, width = image_rgb.shape[:2]
    if 'aspect' in variant:
        config = aspect_config(config, height, width)
    outputs, padding, (input_height, input_width) = estimator.infer(image_rgb, config)
    if 'mirror' in variant:
        # Padding is symmetric left/right, so the mirror image is padded the same way.
        mirrored, _, _ = estimator.infer(np.ascontiguousarray(image_rgb[:, ::-1]), config)
        outputs = average_outputs(outputs, unmirror_outputs(mirrored))
    return scale_and_flip_poses(decode(outputs, config.snapped()), height, width, input_height,
                                input_width, padding, config.flip_horizontal)
