"""
Stage: PoseNet on the frame's pixels (`frame.result`), never stalled by a network build.

A new input size or output stride needs a network built for it (from a cold model cache, a
TFLite conversion in a child process: 4-8 s on 2 cores). Rather than hold the stream for that,
the build runs in a background thread while frames go on with the size and stride in use
before; the frame after the build has finished uses the new ones. The size built at configure
counts as in use, so with `match_aspect_ratio` the first frames run at the configured size
while the camera's own aspect ratio builds (before, the first frame waited for that build:
seconds here, and on a slow computer long enough for the watchdog to take the worker for
stuck). Only a first frame with nothing built at all is estimated directly.
"""
from __future__ import annotations

import dataclasses
import threading
from typing import Callable

from posenet_ros.engine.config import EstimateConfig, FrameBudgetError
from posenet_ros.engine.heap import return_free_memory
from posenet_ros.ros.pipeline import Frame, FrameRejected
from posenet_ros.ros.stages.collector import collect_everything

# Network sizes remembered as built (the network itself bounds its cache).
MAX_REMEMBERED_BUILDS = 64

NetworkKey = tuple  # (input_height, input_width, output_stride)


class EstimateStage:
    """
    Runs `estimator.estimate(frame.rgb, config)` with the frame's settings.

    log_info / log_error: `(message) -> None`, for builds started, finished and failed.
    """

    def __init__(self, estimator, log_info: Callable[[str], object],
                 log_error: Callable[[str], object]):
        self._estimator = estimator
        self._log_info = log_info
        self._log_error = log_error
        self._lock = threading.Lock()
        self._built: set[NetworkKey] = set()
        self._failed: set[NetworkKey] = set()
        self._building: NetworkKey | None = None
        self._builder: threading.Thread | None = None
        self._in_use: NetworkKey | None = None
        self._replaced = False  # the estimator was replaced: free the old one's memory

    @property
    def in_use(self) -> NetworkKey | None:
        """(input height, input width, output stride) of the last frame estimated."""
        return self._in_use

    def mark_built(self, config: EstimateConfig, image_height: int | None = None,
                   image_width: int | None = None) -> None:
        """Record a size prepared ahead (e.g. warmed up at configure): frames may run at it."""
        key = network_key(config, image_height, image_width)
        with self._lock:
            self._built.add(key)
            if self._in_use is None:
                self._in_use = key

    def __call__(self, frame: Frame) -> None:
        config = frame.settings.config
        height, width = frame.rgb.shape[:2]
        wanted = network_key(config, height, width)
        with self._lock:
            estimator = self._estimator  # the size chosen is one built on this estimator
            use = wanted
            if wanted not in self._built and self._in_use not in (None, wanted):
                if wanted not in self._failed:
                    self._start_build(config, height, width, wanted)
                use = self._in_use  # keep the size in use until the new one is built
        if use != wanted:
            config = dataclasses.replace(config, input_height=use[0], input_width=use[1],
                                         output_stride=use[2], match_aspect_ratio=False)
        try:
            frame.result = estimator.estimate(frame.rgb, config)
        except FrameBudgetError as error:  # the frame's size, not the node, is at fault
            raise FrameRejected(str(error)) from error
        with self._lock:
            if self._estimator is estimator:  # not replaced while this frame ran
                self._built.add(use)
                self._in_use = use
            release, self._replaced = self._replaced, False
        frame.notes['network'] = use
        if release:
            self._release_replaced()

    def use_estimator(self, estimator, ready: NetworkKey) -> None:
        """
        Run the next frames on `estimator` (e.g. int8 once calibrated), warmed up for `ready`.

        Frames run at `ready` until the size they want is built on it, in the background as
        usual: the size in use may have changed while `estimator` was being made.
        """
        with self._lock:
            self._estimator = estimator
            self._built = {ready}
            self._in_use = ready
            self._failed.clear()
            self._replaced = True

    @staticmethod
    def _release_replaced() -> None:
        """
        Give the replaced estimator's memory back to the system.

        Called after the first frame on the new one: the frame that was running on the old
        one when it was replaced has finished, so nothing holds it any more. Its interpreters
        (tens of MB) are freed to glibc's heap, which keeps them unless trimmed.
        """
        collect_everything(freeze_after=True)
        return_free_memory()

    def wait_for_build(self, timeout_s: float | None = None) -> bool:
        """Wait until a background build in progress has finished; return whether it has."""
        builder = self._builder
        if builder is not None:
            builder.join(timeout_s)
        return builder is None or not builder.is_alive()

    def _start_build(self, config: EstimateConfig, height: int, width: int,
                     key: NetworkKey) -> None:
        if self._building is not None:
            return  # one at a time; a later frame starts the next if still wanted
        self._building = key
        self._log_info(f'building the network for input {key[1]}x{key[0]} (width x height), '
                       f'output stride {key[2]} in the background; frames go on at input '
                       f'{self._in_use[1]}x{self._in_use[0]}, stride {self._in_use[2]} meanwhile')
        self._builder = threading.Thread(
            target=self._build, args=(self._estimator, config, height, width, key),
            name='posenet_network_build', daemon=True)
        self._builder.start()

    def _build(self, estimator, config: EstimateConfig, height: int, width: int,
               key: NetworkKey) -> None:
        try:
            estimator.warmup(config, height, width)
        except Exception as error:  # noqa: BLE001 - reported; frames go on with the old size
            with self._lock:
                if estimator is self._estimator:
                    self._failed.add(key)
                self._building = None
            self._log_error(f'could not build the network for input {key[1]}x{key[0]}, '
                            f'output stride {key[2]}: {type(error).__name__}: {error}; '
                            'frames go on with the previous size')
            return
        with self._lock:
            self._building = None
            if estimator is not self._estimator:
                return  # replaced meanwhile (int8 took over): this size is not built on it
            if len(self._built) >= MAX_REMEMBERED_BUILDS:
                self._built.clear()
            self._built.add(key)
        self._log_info(f'network for input {key[1]}x{key[0]}, output stride {key[2]} is ready')


def network_key(config: EstimateConfig, image_height: int | None,
                image_width: int | None) -> NetworkKey:
    """Return the (input height, input width, output stride) a frame of this size runs at."""
    if image_height and image_width:
        config = config.for_image(image_height, image_width)
    else:
        config = config.snapped()
    return (config.input_height, config.input_width, config.output_stride)
