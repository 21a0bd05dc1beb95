"""
Stage: a persistent id for each person (`frame.people.track_ids`), from the engine's tracker.

Time comes from the image stamps, so dropped frames only make a longer step. A stamp earlier than
the previous frame's (a bag played again, a camera restarted) starts the tracks afresh; ids keep
counting up, so an id is never given to another person while the node runs.
"""
from __future__ import annotations

from typing import Callable

from posenet_ros.engine.tracking import PoseTracker
from posenet_ros.ros.pipeline import Frame


class TrackingStage:
    """Ids from a PoseTracker whose settings follow the live parameters (0 with tracking off)."""

    optional = True  # poses go out with id 0 if this fails (pipeline.py)

    def __init__(self, log_info: Callable[[str], object]):
        self._tracker: PoseTracker | None = None
        self._log_info = log_info
        self._last_stamp: float | None = None

    @property
    def tracker(self) -> PoseTracker | None:
        return self._tracker

    def __call__(self, frame: Frame) -> None:
        settings = frame.settings
        if not settings.tracking:
            return
        if self._tracker is None:
            self._tracker = PoseTracker(settings.tracker)
        elif self._tracker.config != settings.tracker:
            self._tracker.config = settings.tracker  # checked with the parameters
        stamp = frame.stamp_s
        if self._last_stamp is not None and stamp < self._last_stamp:
            self._log_info(f'image stamps went back in time ({self._last_stamp:.3f} s -> '
                           f'{stamp:.3f} s): tracks start afresh')
            self._tracker.reset()
        self._last_stamp = stamp
        people = frame.people
        people.track_ids = self._tracker.update(people.keypoint_coords, people.keypoint_scores,
                                                stamp)
