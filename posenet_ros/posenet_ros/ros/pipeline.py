"""
The per-frame pipeline of posenet_node: a list of stages run in order on each frame.

A stage is a callable taking the `Frame` being built; it reads what earlier stages put there and
adds its own part. Adding a capability (depth, tracking, smoothing, ...) is a new stage in its
own module under `stages/` and one line in the node's list. A stage raises `FrameRejected` for
bad input (the frame is skipped with a warning, by cause); anything else it raises is a failure
of the node's own processing (logged as an error); either way the next frame is served.

A stage whose class sets `optional = True` adds to the people what they can go out without
(positions in metres, ids, smoothing, markers). If it fails, the frame's people are put back as
they were before it and the frame goes on: the poses are published without that part, and the
frame is counted as degraded rather than lost. A fault in 3D or tracking, whatever the camera
sends, then never silences the poses.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
import re
import time
from typing import Callable, Sequence

import numpy as np
from posenet_ros.engine.people import PeopleFrame
from posenet_ros.engine.types import EstimateResult
from posenet_ros.ros.frame_stats import FrameStats
from posenet_ros.ros.parameters import LiveSettings


class FrameRejected(Exception):
    """
    The input frame cannot be used; the message says why.

    The message names no frame-specific data that the log's rate limiter should tell apart (it
    masks numbers anyway).
    """


@dataclass
class Frame:
    """One camera frame on its way through the pipeline."""

    message: object                      # the Image / CompressedImage (its bytes until read)
    settings: LiveSettings               # the live settings snapshot used for the whole frame
    rgb: np.ndarray | None = None        # (H, W, 3) uint8, from the convert stage
    result: EstimateResult | None = None  # from the estimate stage
    people: PeopleFrame | None = None    # the poses as arrays, completed by 3D/tracking/smoothing
    pose_array: object | None = None     # posenet_msgs/PoseArray (or its bytes), to publish
    latency_ms: float | None = None      # image stamp to publish, set when published
    frame_id: str | None = None          # the output's frame when positions were moved (tf2)
    notes: dict = field(default_factory=dict)  # what stages tell later ones
    received_s: float = field(default_factory=time.time)  # when the node took it up (s)

    @property
    def header(self):
        return self.message.header

    @property
    def stamp_s(self) -> float:
        """
        Return the image's capture time in seconds (header.stamp).

        A camera that leaves the stamp at zero gets the time the node took the frame up instead:
        tracks still end and smoothing still follows the person.
        """
        stamp = self.message.header.stamp
        if stamp.sec == 0 and stamp.nanosec == 0:
            return self.received_s
        return stamp.sec + stamp.nanosec * 1e-9


Stage = Callable[[Frame], None]


def stage_name(stage: Stage) -> str:
    """Return a stage's name for diagnostics: its `name`, else its class in snake case."""
    name = getattr(stage, 'name', None)
    if name:
        return str(name)
    words = re.sub(r'Stage$', '', type(stage).__name__) or type(stage).__name__
    return re.sub(r'(?<=[a-z0-9])(?=[A-Z])', '_', words).lower()


class FramePipeline:
    """
    Runs the stages on a frame and accounts for how it ended in `stats`.

    Each stage is timed, so diagnostics can say where a frame's time goes.

    bad_input_log / failure_log: `(message) -> None` loggers (rate-limited by cause).
    """

    def __init__(self, stages: Sequence[Stage], stats: FrameStats, topic: str,
                 bad_input_log: Callable[[str], object], failure_log: Callable[[str], object]):
        self.stages = list(stages)
        self._names = [stage_name(stage) for stage in self.stages]
        self._stats = stats
        self._topic = topic
        self._bad_input_log = bad_input_log
        self._failure_log = failure_log

    def run(self, message, settings: LiveSettings,
            still_current: Callable[[], bool] | None = None) -> Frame:
        """
        Run the stages on one frame.

        still_current: checked before each stage; when it turns false (the frame's worker was
        replaced while stuck in it, `FrameWorker.is_current`) the frame is dropped unpublished.
        """
        frame = Frame(message=message, settings=settings)
        stage_ms: dict[str, float] = {}
        try:
            start = time.perf_counter()
            for name, stage in zip(self._names, self.stages):
                if still_current is not None and not still_current():
                    return frame  # late, and the stages now serve another thread's frames
                if getattr(stage, 'optional', False):
                    self._run_optional(name, stage, frame)
                else:
                    stage(frame)
                end = time.perf_counter()
                stage_ms[name] = (end - start) * 1e3
                start = end
        except FrameRejected as rejection:
            reason = f'skipping a frame from {self._topic}: {rejection}'
            self._stats.rejected(str(rejection))
            self._bad_input_log(reason)
            return frame
        except Exception as error:  # noqa: BLE001 - counted and logged; the next frame is served
            reason = f'{type(error).__name__}: {error}'
            self._stats.failed(reason)
            self._failure_log(f'failed on a frame from {self._topic}: {reason}')
            return frame
        timings = frame.result.timings_ms if frame.result is not None else {}
        self._stats.processed(frame.latency_ms, timings.get('inference'), stage_ms)
        return frame

    def _run_optional(self, name: str, stage: Stage, frame: Frame) -> None:
        """Run an optional stage; if it fails, undo its changes to the people and go on."""
        people = copy.copy(frame.people)  # the stages replace the arrays, never write into them
        try:
            stage(frame)
        except FrameRejected:
            raise
        except Exception as error:  # noqa: BLE001 - counted and logged; the frame goes on
            frame.people = people
            cause = f'{type(error).__name__}: {error}'
            self._stats.degraded(f'{name}: {cause}')
            self._failure_log(f'{name} failed on a frame from {self._topic}; its poses go out '
                              f'without it: {cause}')
