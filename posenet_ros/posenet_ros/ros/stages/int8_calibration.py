"""
Stage: calibrate int8 on the camera's first frames while float32 serves them, then switch.

Asked for `precision: int8` with no calibrated model or calibration input, the node starts on
float32. This stage keeps one frame in every `FRAME_GAP` (so they differ) until it has
`frames_wanted`, then calibrates the int8 model for the input size in use in a background
thread (tens of seconds) and hands it to the estimate stage; frames never wait for it. Both
moments are logged, and a failed calibration leaves the node on float32 with the reason.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

from posenet_ros.ros.pipeline import Frame

FRAME_GAP = 5  # keep one frame in this many: consecutive camera frames are nearly the same


class Int8CalibrationStage:
    """
    Collect frames, then build the int8 estimator and hand it over.

    The estimator is made with `make_int8(frames)` and passed to `switch(estimator)`.

    make_int8: `(frames) -> PoseEstimator`; switch: `(estimator) -> None`; log_info/log_error:
    `(message) -> None`.
    """

    def __init__(self, frames_wanted: int, make_int8: Callable, switch: Callable,
                 log_info: Callable[[str], object], log_error: Callable[[str], object]):
        self._frames_wanted = frames_wanted
        self._make_int8 = make_int8
        self._switch = switch
        self._log_info = log_info
        self._log_error = log_error
        self._frames: list = []
        self._seen = 0
        self._builder: threading.Thread | None = None
        self.done = False

    def __call__(self, frame: Frame) -> None:
        if self.done or self._builder is not None or frame.rgb is None:
            return
        if self._seen % FRAME_GAP == 0:
            self._frames.append(frame.rgb.copy())
        self._seen += 1
        if len(self._frames) >= self._frames_wanted:
            config = frame.settings.config
            height, width = frame.rgb.shape[:2]
            self._log_info(f'int8: calibrating on {len(self._frames)} camera frames in the '
                           'background; frames go on in float32 meanwhile')
            self._builder = threading.Thread(
                target=self._build, args=(self._frames, config, height, width),
                name='posenet_int8_calibration', daemon=True)
            self._frames = []
            self._builder.start()

    def wait(self, timeout_s: float | None = None) -> None:
        """Wait for a calibration in progress (for stopping cleanly)."""
        builder = self._builder
        if builder is not None:
            builder.join(timeout_s)

    def _build(self, frames, config, height: int, width: int) -> None:
        start = time.perf_counter()
        try:
            estimator = self._make_int8(frames)
            estimator.warmup(config, height, width)
        except Exception as error:  # noqa: BLE001 - reported; the node stays on float32
            self._log_error(f'int8: calibration failed ({type(error).__name__}: {error}); '
                            'staying on float32')
            self.done = True
            return
        self._switch(estimator)
        self.done = True
        self._log_info(f'int8: calibrated on {len(frames)} camera frames in '
                       f'{time.perf_counter() - start:.1f} s; frames now run in int8')
