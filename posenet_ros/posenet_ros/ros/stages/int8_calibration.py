"""
Stage: calibrate int8 on the camera's first frames while float32 serves them, then switch.

Asked for `precision: int8` with no calibrated model or calibration input, the node starts on
float32. On the first frame, the size it runs at being known, a model calibrated earlier for
that size and stride (the model cache keeps what this stage or posenet_quantize calibrated) is
taken at once, read through the cache's checksum: a damaged one is never run (logged; this
stage calibrates instead). Otherwise this stage keeps one frame in every `FRAME_GAP` (so they
differ) until it has `frames_wanted`, then calibrates the int8 model for the input size in use
in a background thread (tens of seconds, in a child process) and hands it to the estimate
stage; frames never wait for it. Both moments are logged, and a failed calibration leaves the
node on float32 with the reason.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

from posenet_ros.engine import tflite_cache
from posenet_ros.engine.heap import return_free_memory
from posenet_ros.ros.pipeline import Frame
from posenet_ros.ros.stages.estimate import network_key

FRAME_GAP = 5  # keep one frame in this many: consecutive camera frames are nearly the same


class Int8CalibrationStage:
    """
    Collect frames, then build the int8 estimator and hand it over.

    The estimator is made with `make_int8(frames=..., model=...)`, warmed up for the size the
    frames ran at, and passed to `switch(estimator, size)`.

    find_saved: `(input height, input width, stride) -> Path | None`, a model calibrated
    earlier (a model cache entry); make_int8: `(frames, model) -> PoseEstimator` from
    calibration frames or a saved model's bytes; switch: `(estimator, (input height, input
    width, stride)) -> None`; log_info/log_error: `(message) -> None`.
    """

    optional = True  # frames go on in float32 if this fails (pipeline.py)

    def __init__(self, frames_wanted: int, find_saved: Callable, make_int8: Callable,
                 switch: Callable, log_info: Callable[[str], object],
                 log_error: Callable[[str], object]):
        self._frames_wanted = frames_wanted
        self._find_saved = find_saved
        self._make_int8 = make_int8
        self._switch = switch
        self._log_info = log_info
        self._log_error = log_error
        self._frames: list = []
        self._seen = 0
        self._look_for_saved = True  # once, on the first frame
        self._builder: threading.Thread | None = None
        self.done = False

    def __call__(self, frame: Frame) -> None:
        if self.done or self._builder is not None or frame.rgb is None:
            return
        if self._look_for_saved:
            self._look_for_saved = False
            if self._start_from_saved(frame):
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
                target=self._build, args=(None, config, height, width),
                name='posenet_int8_calibration', daemon=True)
            self._builder.start()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait for a calibration in progress (for stopping cleanly); return whether it ended."""
        builder = self._builder
        if builder is not None:
            builder.join(timeout_s)
        return builder is None or not builder.is_alive()

    def _start_from_saved(self, frame: Frame) -> bool:
        """Switch to a model calibrated earlier for this frame's size, if there is one."""
        config = frame.settings.config
        height, width = frame.rgb.shape[:2]
        key = network_key(config, height, width)
        try:
            saved = self._find_saved(*key)
        except (OSError, ValueError) as error:
            self._log_error(f'int8: cannot look for a calibrated model ({error})')
            saved = None
        if saved is None:
            return False
        self._builder = threading.Thread(
            target=self._build, args=(saved, config, height, width),
            name='posenet_int8_load', daemon=True)
        self._builder.start()
        return True

    def _build(self, saved, config, height: int, width: int) -> None:
        """Make the int8 estimator from `saved` (a model's path) or else the kept frames."""
        start = time.perf_counter()
        frames = model = None
        if saved is None:  # the kept frames: from here on only the estimator's copy on disk
            frames, self._frames = self._frames, []
        else:
            try:  # checked: a damaged entry would run and give wrong poses
                model = tflite_cache.read_entry(saved)
            except (tflite_cache.CorruptModelError, OSError) as error:
                self._log_error(f'int8: the model calibrated earlier is unusable ({error}); '
                                'calibrating on camera frames instead')
                self._builder = None  # the frames from now on are kept
                return
        try:
            estimator = self._make_int8(frames=frames, model=model)
            count, frames = len(frames or ()), None
            return_free_memory()  # the ~44 MB of frames, back to the system
            estimator.warmup(config, height, width)
        except Exception as error:  # noqa: BLE001 - reported; the node stays on float32
            what = f'loading {saved}' if saved is not None else 'calibration'
            self._log_error(f'int8: {what} failed ({type(error).__name__}: {error}); '
                            'staying on float32')
            self.done = True
            return
        self._switch(estimator, network_key(config, height, width))
        self.done = True
        if saved is not None:
            self._log_info(f'int8: using the model calibrated earlier for this size, {saved}; '
                           'frames now run in int8')
        else:
            self._log_info(f'int8: calibrated on {count} camera frames in '
                           f'{time.perf_counter() - start:.1f} s; frames now run in int8')
