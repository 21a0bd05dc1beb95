"""
Network outputs -> poses in source-image pixels: the steps after inference, in one place.

Decode (single or multi), then the options beyond the original that work on the decoded poses
(refine the keypoints, rescore the poses), then scale and flip into the source image. The
estimator and every tool that decodes outputs it got elsewhere (averaged, resampled, stored)
call this, so they all give the estimator's results.
"""
from __future__ import annotations

from .config import EstimateConfig
from .decode_multi import decode_multiple_poses
from .decode_single import decode_single_pose
from .parts import NUM_KEYPOINTS
from .postprocess import scale_and_flip_poses
from .refine import refine_keypoints
from .rescoring import rescore_poses
from .types import NetworkOutputs, Padding, Pose


def poses_from_outputs(outputs: NetworkOutputs, config: EstimateConfig, padding: Padding,
                       image_height: int, image_width: int) -> list[Pose]:
    """
    Return the poses of `config` in the outputs of an image of this size, in its pixels.

    `config` is the one the network ran with: snapped, and with the input size actually used
    (`EstimateConfig.for_image` with `match_aspect_ratio`); `padding` is what the network added.
    """
    stride = config.output_stride
    if config.decoding == 'single':
        poses = [decode_single_pose(outputs.heatmap_scores, outputs.offsets, stride)]
    else:
        poses = decode_multiple_poses(
            outputs.heatmap_scores, outputs.offsets, outputs.displacements_fwd,
            outputs.displacements_bwd, stride, config.max_pose_detections,
            config.score_threshold, config.nms_radius)
    if config.refine_keypoints:
        poses = refine_keypoints(poses, outputs.heatmap_scores, outputs.offsets, stride)
    if config.pose_score_keypoints != NUM_KEYPOINTS:
        poses = rescore_poses(poses, config.pose_score_keypoints,
                              config.nms_radius if config.decoding == 'multi' else None)
    return scale_and_flip_poses(poses, image_height, image_width, config.input_height,
                                config.input_width, padding, config.flip_horizontal)
