"""
Subscriptions read by a thread of one's own, not an executor: the node's newest camera frame.

An image costs the executor path about 1 ms before inference can start (the executor's wait set
rebuilt in Python, the callback, a hand-off to the worker thread). Here the subscription is in
a callback group no executor runs, and the worker waits on it in a wait set of its own (rcl's
wait releases the GIL) and takes the message itself: about 0.5 ms less per frame, measured
between two processes with a 640x480 rgb8 image. Everything else of the node (parameters,
timers, services) stays on the executor.

Newest frame only: after each wait every queued message is taken and only the last one is kept.
Frames not processed are counted from the publishers' sequence numbers (a gap is a frame the
DDS history replaced, or lost on the way) plus the ones taken and skipped here.
"""
from __future__ import annotations

import threading
import time

from rclpy.callback_groups import CallbackGroup
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy

MAX_TRACKED_PUBLISHERS = 64  # sequence numbers are remembered per publisher; bounded memory


class NotRunByExecutors(CallbackGroup):
    """A callback group executors never run: its subscription is read by its own thread."""

    def can_execute(self, entity) -> bool:
        return False

    def beginning_execution(self, entity) -> bool:
        return False

    def ending_execution(self, entity) -> None:
        pass


class DirectSubscription:
    """
    A subscription read by the calling thread instead of an executor callback.

    Made like `node.create_subscription` (same arguments but the callback); `take_all` waits
    in a wait set of its own and returns every message that came, with its message info
    (serialized bytes with `raw=True`). One thread reads it.
    """

    def __init__(self, node, message_type, topic: str, qos_profile, **subscription_kwargs):
        self.message_type = message_type
        self._raw = bool(subscription_kwargs.get('raw', False))
        self.subscription = node.create_subscription(
            message_type, topic, _never_called, qos_profile, callback_group=NotRunByExecutors(),
            **subscription_kwargs)
        self._wait_set = _rclpy.WaitSet(1, 0, 0, 0, 0, 0, node.context.handle)

    @property
    def topic_name(self) -> str:
        return self.subscription.topic_name

    @property
    def raw(self) -> bool:
        """Whether messages are taken as their serialized bytes."""
        return self._raw

    def take_all(self, timeout_s: float) -> list[tuple[object, dict]]:
        """
        Return the (message, info) pairs that came, oldest first.

        Waits up to `timeout_s` for one.
        """
        wait_set = self._wait_set
        wait_set.clear_entities()
        wait_set.add_subscription(self.subscription.handle)
        wait_set.wait(int(timeout_s * 1e9))
        taken = []
        while True:
            message_and_info = self.subscription.handle.take_message(self.message_type, self._raw)
            if message_and_info is None:
                return taken
            taken.append(message_and_info)


class NewestFrameReader(DirectSubscription):
    """
    A DirectSubscription for camera frames: only the newest is returned, the rest counted.

    `take_newest(timeout_s)` is called by one thread; `counts()` by any thread.
    """

    def __init__(self, node, message_type, topic: str, qos_profile, **subscription_kwargs):
        super().__init__(node, message_type, topic, qos_profile, **subscription_kwargs)
        self._lock = threading.Lock()
        self._received = 0
        self._dropped = 0
        self._last_sequence: dict[bytes, int] = {}
        self.last_arrival: float | None = None  # time.monotonic() when a frame was last taken

    def take_newest(self, timeout_s: float):
        """Return the newest message that came (waiting up to `timeout_s`), or None."""
        taken = self.take_all(timeout_s)
        for _, info in taken:
            self._count_gap(info)
        if not taken:
            return None
        self.last_arrival = time.monotonic()
        with self._lock:
            self._received += len(taken)
            self._dropped += len(taken) - 1
        return taken[-1][0]

    def destroy(self, node) -> None:
        """Remove the subscription from the node (no more DDS traffic of frames)."""
        node.destroy_subscription(self.subscription)

    def counts(self) -> tuple[int, int]:
        """(frames received, frames not processed) since the start."""
        with self._lock:
            return self._received, self._dropped

    def _count_gap(self, info) -> None:
        """Frames a publisher sent that never reached us: the gap in its sequence numbers."""
        sequence = info.get('publication_sequence_number') if isinstance(info, dict) else None
        gid = (info.get('publisher_gid') or {}).get('data') if sequence else None
        if not sequence or gid is None:
            return  # the middleware does not tell: only skipped frames are counted
        last = self._last_sequence.pop(gid, None)
        self._last_sequence[gid] = sequence  # (re)inserted last: the dict is oldest-first
        if len(self._last_sequence) > MAX_TRACKED_PUBLISHERS:
            del self._last_sequence[next(iter(self._last_sequence))]
        if last is not None and sequence > last + 1:
            with self._lock:
                self._received += sequence - last - 1
                self._dropped += sequence - last - 1


def _never_called(message) -> None:
    raise AssertionError('a DirectSubscription is not run by an executor')
