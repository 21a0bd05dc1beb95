"""
The people of one frame as arrays: what the 3D, tracking and smoothing steps read and fill in.

`EstimateResult` holds a list of poses as the decoders give them; the steps after estimation work
on every person at once, so the poses are laid out as arrays here (N people): pose scores (N,),
keypoint scores (N, 17), keypoint pixels (N, 17, 2) as (x, y) in the source image, keypoint
positions (N, 17, 3) in metres with a validity mask (NaN where unknown), a position per person
(N, 3) with its mask, and track ids (N,) (0: not tracked). Built with `PeopleFrame.from_result`;
the ROS adapter turns it into a posenet_msgs/PoseArray, the CLI into JSON.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .parts import NUM_KEYPOINTS
from .types import EstimateResult, Pose


@dataclass
class PeopleFrame:
    """The people found in one image (see the module docstring for the arrays' shapes)."""

    image_width: int
    image_height: int
    scores: np.ndarray
    keypoint_scores: np.ndarray
    keypoint_coords: np.ndarray
    keypoint_positions: np.ndarray
    has_keypoint_position: np.ndarray
    positions: np.ndarray
    has_position: np.ndarray
    track_ids: np.ndarray

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def poses(self) -> list[Pose]:
        """Return the people as engine Poses (pixels as they are now, e.g. smoothed), to draw."""
        return [Pose(score=float(self.scores[index]),
                     keypoint_scores=self.keypoint_scores[index],
                     keypoint_coords=self.keypoint_coords[index]) for index in range(len(self))]

    @classmethod
    def from_result(cls, result: EstimateResult, min_pose_score: float = 0.0) -> 'PeopleFrame':
        """Keep the poses of `result` scoring at least `min_pose_score`, in the decoder's order."""
        kept = [pose for pose in result.poses if float(pose.score) >= min_pose_score]
        count = len(kept)
        scores = np.array([float(pose.score) for pose in kept], dtype=np.float64)
        keypoint_scores, keypoint_coords = _stacked(kept)
        return cls(
            image_width=int(result.image_width), image_height=int(result.image_height),
            scores=scores, keypoint_scores=keypoint_scores, keypoint_coords=keypoint_coords,
            keypoint_positions=np.full((count, NUM_KEYPOINTS, 3), np.nan),
            has_keypoint_position=np.zeros((count, NUM_KEYPOINTS), dtype=bool),
            positions=np.full((count, 3), np.nan), has_position=np.zeros(count, dtype=bool),
            track_ids=np.zeros(count, dtype=np.int64))


def _stacked(poses: list[Pose]) -> tuple[np.ndarray, np.ndarray]:
    """
    Return the poses' keypoint scores (N, 17) and pixels (N, 17, 2) as float64 arrays.

    One np.array per field; a pose of another shape is named by the per-pose check.
    """
    count = len(poses)
    if count:
        try:
            keypoint_scores = np.array([pose.keypoint_scores for pose in poses], dtype=np.float64)
            keypoint_coords = np.array([pose.keypoint_coords for pose in poses], dtype=np.float64)
        except (TypeError, ValueError):  # ragged or not numbers: the loop below says which
            keypoint_scores = keypoint_coords = None
        if keypoint_scores is not None and keypoint_scores.shape == (count, NUM_KEYPOINTS) \
                and keypoint_coords.shape == (count, NUM_KEYPOINTS, 2):
            return keypoint_scores, keypoint_coords
    keypoint_scores = np.zeros((count, NUM_KEYPOINTS))
    keypoint_coords = np.zeros((count, NUM_KEYPOINTS, 2))
    for index, pose in enumerate(poses):
        pose_scores = np.asarray(pose.keypoint_scores, dtype=np.float64)
        pose_coords = np.asarray(pose.keypoint_coords, dtype=np.float64)
        if pose_scores.shape != (NUM_KEYPOINTS,) or pose_coords.shape != (NUM_KEYPOINTS, 2):
            raise ValueError(
                f'a pose has keypoint_scores of shape {pose_scores.shape} and keypoint_coords '
                f'of shape {pose_coords.shape}; expected ({NUM_KEYPOINTS},) and '
                f'({NUM_KEYPOINTS}, 2)')
        keypoint_scores[index] = pose_scores
        keypoint_coords[index] = pose_coords
    return keypoint_scores, keypoint_coords
