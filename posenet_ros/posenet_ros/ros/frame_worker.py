"""
The thread that serves camera frames: it takes the newest one and hands it on, forever.

Nothing a frame does may end this thread: whatever a frame raises is caught around that frame,
reported through `on_error` and counted, and the next frame is served. The worker also records
a heartbeat (each turn of its loop) and when it last finished a frame, so that a watchdog can
tell a dead or stuck worker from a quiet camera, and `restart` gives it a fresh thread. The
thread it replaces may still come back from its frame: `is_current` tells it to drop that frame
(it is late, and the stages' state now belongs to the new thread).
"""
from __future__ import annotations

import threading
import time
from typing import Callable

TAKE_RETRY_S = 0.1  # after a failing take, wait this long before the next


class FrameWorker:
    """
    Runs `process(message)` on the newest frame of `reader` in a thread of its own.

    reader: has `take_newest(timeout_s)` (e.g. frame_reader.NewestFrameReader). process: handles
    one frame; anything it raises goes to `on_error(error, stage)` with stage 'process' (or
    'take' when taking the frame failed) and the worker goes on.
    """

    def __init__(self, reader, process: Callable[[object], None],
                 on_error: Callable[[BaseException, str], None], *,
                 name: str = 'posenet_worker', wait_s: float = 0.1):
        self._reader = reader
        self._process = process
        self._on_error = on_error
        self._name = name
        self._wait_s = wait_s
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._generation = 0
        self._replaced: list[threading.Thread] = []  # threads restart left in their frame
        self.frames_done = 0
        self.frames_failed = 0
        self.restarts = 0
        self.heartbeat = time.monotonic()
        self.frame_started: float | None = None  # monotonic time the frame in progress began
        self.last_frame_done: float | None = None

    @property
    def alive(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    @property
    def running(self) -> bool:
        """Tell whether started and not asked to stop (whether or not the thread still lives)."""
        return self._thread is not None and not self._stopping.is_set()

    @property
    def replaced_alive(self) -> bool:
        """Tell whether a thread that `restart` replaced is still in its frame."""
        self._replaced = [thread for thread in self._replaced if thread.is_alive()]
        return bool(self._replaced)

    def is_current(self) -> bool:
        """
        Tell whether the calling thread is the worker's thread.

        False in a thread that `restart` replaced or `stop` let go: its frame is to be dropped.
        """
        return threading.current_thread() is self._thread

    def start(self) -> None:
        with self._lock:
            if self.alive and not self._stopping.is_set():
                return
            self._stopping = threading.Event()
            self._begin_thread()

    def restart(self) -> None:
        """
        Start a fresh thread.

        A stuck old one is abandoned: it leaves its loop when it returns.
        """
        with self._lock:
            self.restarts += 1
            if self._thread is not None:
                self._replaced.append(self._thread)
            self._begin_thread()

    def stop(self, timeout_s: float = 10.0) -> bool:
        """Stop after the frame in progress; True when the thread has ended within the timeout."""
        with self._lock:
            self._stopping.set()
            thread, self._thread = self._thread, None
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(timeout=timeout_s)
        return not thread.is_alive()

    def seconds_in_frame(self, now: float | None = None) -> float:
        """How long the frame in progress has taken so far (0 when none is)."""
        started = self.frame_started
        return 0.0 if started is None else (now or time.monotonic()) - started

    def _begin_thread(self) -> None:
        self._generation += 1
        self.heartbeat = time.monotonic()
        self.frame_started = None
        self._thread = threading.Thread(
            target=self._loop, args=(self._generation, self._stopping), name=self._name,
            daemon=True)
        self._thread.start()

    def _loop(self, generation: int, stopping: threading.Event) -> None:
        while not stopping.is_set() and generation == self._generation:
            self.heartbeat = time.monotonic()
            try:
                message = self._reader.take_newest(timeout_s=self._wait_s)
            except BaseException as error:  # noqa: B036 - nothing may end this thread
                if stopping.is_set():
                    return  # the context went down under the wait (shutdown)
                self._report(error, 'take')
                stopping.wait(TAKE_RETRY_S)
                continue
            if message is None or stopping.is_set() or generation != self._generation:
                continue
            self.frame_started = time.monotonic()
            try:
                self._process(message)
                if generation == self._generation:
                    self.frames_done += 1
            except BaseException as error:  # noqa: B036 - nothing may end this thread
                if generation == self._generation:
                    self.frames_failed += 1
                if not stopping.is_set():
                    self._report(error, 'process')
            finally:
                if generation == self._generation:  # a replaced thread leaves these alone
                    self.last_frame_done = time.monotonic()
                    self.frame_started = None

    def _report(self, error: BaseException, stage: str) -> None:
        try:
            self._on_error(error, stage)
        except BaseException:  # noqa: B036 - a failing logger must not end the thread either
            pass
