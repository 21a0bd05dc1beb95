"""
`posenet-estimate --track / --smooth`: persistent ids (and smoothed keypoints) over videos.

Kept apart from `estimate.py` so the command's other options evolve independently. Each video
(each input source) is tracked on its own; its frames are stamped frame_index / frame rate, so the
ids are those the node gives for the same frames at that rate. Photos each start over (a photo
never confirms a track: its poses get id 0 unless --track-min-hits is 1).
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
from posenet_ros.engine.pose_tracks import PoseTracks
from posenet_ros.engine.smoothing import PIXEL_DEFAULTS
from posenet_ros.engine.tracking import TrackerConfig

DEFAULT_RATE_HZ = 30.0  # when a video does not say its frame rate


def add_tracking_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group('tracking (videos)')
    group.add_argument('--track', action='store_true',
                       help='give every pose a "track_id" that persists over a video\'s frames '
                            '(0: not confirmed yet)')
    group.add_argument('--smooth', action='store_true',
                       help='with --track (implied): One-Euro smoothed keypoints in the JSON and '
                            'drawings')
    defaults = TrackerConfig()
    group.add_argument('--track-min-hits', type=int, default=defaults.min_hits,
                       help='frames in a row before a new person gets an id (default %(default)s)')
    group.add_argument('--track-max-age', type=float, default=defaults.max_age,
                       help='seconds a person is kept while unseen (default %(default)s)')
    group.add_argument('--track-min-pose-score', type=float, default=0.35,
                       help='poses scoring lower are not tracked (id 0), as the node does not '
                            'publish poses below its min_pose_score (0.15 by default, 0.4 in '
                            'config/posenet.yaml) (default %(default)s)')


def tracker_config(args) -> TrackerConfig:
    """Return the TrackerConfig the options ask for (ValueError says what is wrong)."""
    return TrackerConfig(min_hits=args.track_min_hits, max_age=args.track_max_age).check()


def tracking_record(args) -> dict | None:
    """Return the `config.tracking` object of the results file, None without --track."""
    if not (args.track or args.smooth):
        return None
    return {'smooth': bool(args.smooth), 'min_pose_score': float(args.track_min_pose_score),
            **dataclasses.asdict(tracker_config(args))}


class FrameTracks:
    """Ids for the poses of a stream of `image_io.Frame`s, one tracker run per source."""

    def __init__(self, config: TrackerConfig, smooth: bool, min_pose_score: float = 0.0):
        self._tracks = PoseTracks(config, PIXEL_DEFAULTS if smooth else None)
        self._min_pose_score = float(min_pose_score)
        self._source: Path | None = None
        self._last_index: int | None = None
        self._rate = DEFAULT_RATE_HZ

    def update(self, frame, poses):
        """(track ids, poses) for this frame's poses (smoothed with --smooth)."""
        # A new source, a photo, or the same video listed again (its frames start over).
        if frame.source != self._source or frame.frame_index is None or (
                self._last_index is not None and frame.frame_index <= self._last_index):
            self._tracks.reset()
            self._source = frame.source
            self._rate = video_rate(frame.source) if frame.frame_index is not None \
                else DEFAULT_RATE_HZ
        self._last_index = frame.frame_index
        stamp = (frame.frame_index or 0) / self._rate
        poses = list(poses)
        chosen = [i for i, pose in enumerate(poses) if pose.score >= self._min_pose_score]
        ids, tracked = self._tracks.update([poses[i] for i in chosen], stamp)
        all_ids = np.zeros(len(poses), dtype=np.int64)
        for row, index in enumerate(chosen):
            all_ids[index] = ids[row]
            poses[index] = tracked[row]
        return all_ids, poses


def from_args(args) -> FrameTracks | None:
    if not (args.track or args.smooth):
        return None
    if not 0.0 <= args.track_min_pose_score <= 1.0:
        raise ValueError(f'--track-min-pose-score must be between 0 and 1, got '
                         f'{args.track_min_pose_score}')
    return FrameTracks(tracker_config(args), args.smooth, args.track_min_pose_score)


def video_rate(path: Path) -> float:
    """
    Return a video's frame rate (Hz) as its container says.

    DEFAULT_RATE_HZ when it says none.
    """
    import cv2
    capture = cv2.VideoCapture(str(path))
    try:
        rate = capture.get(cv2.CAP_PROP_FPS) if capture.isOpened() else 0.0
    finally:
        capture.release()
    return float(rate) if rate and rate > 0 and rate < 1000 else DEFAULT_RATE_HZ
