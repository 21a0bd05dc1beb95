"""
SIGINT and SIGTERM as a stop request: any number of them, at any moment, end in a clean exit.

rclpy's own handler shuts the context down under whatever is running, and once it has, Python's
default handler is back: a second Ctrl-C (a terminal signals the whole process group and
`ros2 launch` forwards one more) raised KeyboardInterrupt wherever the main thread was, e.g. in
the middle of stopping the worker. Installed first thing by the executable (before the slow
imports), a signal here only sets a flag that the main loop and the lifecycle transitions read.
"""
from __future__ import annotations

import signal
import threading


class StopSignals:
    """Callable: True once SIGINT or SIGTERM has come. Installs its handlers when made."""

    def __init__(self):
        self._event = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum, frame) -> None:
        self._event.set()

    def ignore_from_now(self) -> None:
        """
        Ignore SIGINT and SIGTERM from here on: the process is ending.

        Python's own
        finalization resets handlers it installed to the default (a late Ctrl-C, e.g. launch's
        forwarded copy, would then kill the process with -2 while TensorFlow tears down); it
        leaves ignored signals ignored.
        """
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)

    def wait(self, timeout_s: float) -> bool:
        return self._event.wait(timeout_s)

    def __call__(self) -> bool:
        return self._event.is_set()
