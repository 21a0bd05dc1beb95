"""The frame worker thread survives anything a frame raises, and can be stopped and restarted."""
from __future__ import annotations

import queue
import threading
import time

from posenet_ros.ros.frame_worker import FrameWorker
from posenet_ros.ros.rate_limited_log import cause_of, RateLimitedLog


class QueueReader:
    """Frames from a queue, as NewestFrameReader hands them out (None after a quiet wait)."""

    def __init__(self):
        self.frames = queue.Queue()

    def take_newest(self, timeout_s):
        try:
            frame = self.frames.get(timeout=timeout_s)
        except queue.Empty:
            return None
        if isinstance(frame, BaseException):
            raise frame
        return frame


def wait_for(condition, timeout_s=5.0):
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def test_whatever_a_frame_raises_the_worker_serves_the_next():
    reader, done, errors = QueueReader(), [], []

    def process(frame):
        if isinstance(frame, type) and issubclass(frame, BaseException):
            raise frame('bad frame')
        done.append(frame)

    worker = FrameWorker(reader, process, lambda error, stage: errors.append((type(error), stage)),
                         wait_s=0.01)
    worker.start()
    try:
        for frame in (1, ValueError, 2, MemoryError, 3, SystemExit, 4, KeyboardInterrupt, 5):
            reader.frames.put(frame)
        assert wait_for(lambda: done == [1, 2, 3, 4, 5]), done
        assert worker.alive
        assert [kind for kind, _ in errors] == [ValueError, MemoryError, SystemExit,
                                                KeyboardInterrupt]
        assert {stage for _, stage in errors} == {'process'}
        assert worker.frames_done == 5 and worker.frames_failed == 4
    finally:
        assert worker.stop(timeout_s=2.0)


def test_a_failing_take_is_reported_and_taking_goes_on():
    reader, done, errors = QueueReader(), [], []
    worker = FrameWorker(reader, done.append, lambda error, stage: errors.append(stage),
                         wait_s=0.01)
    worker.start()
    try:
        reader.frames.put(RuntimeError('rcl take failed'))
        reader.frames.put('frame')
        assert wait_for(lambda: done == ['frame'])
        assert errors == ['take']
    finally:
        worker.stop(timeout_s=2.0)


def test_a_failing_error_report_does_not_end_the_worker():
    reader, done = QueueReader(), []

    def broken_report(error, stage):
        raise RuntimeError('the logger is gone')

    def process(frame):
        if frame == 'bad':
            raise ValueError(frame)
        done.append(frame)

    worker = FrameWorker(reader, process, broken_report, wait_s=0.01)
    worker.start()
    try:
        reader.frames.put('bad')
        reader.frames.put('good')
        assert wait_for(lambda: done == ['good'])
    finally:
        worker.stop(timeout_s=2.0)


def test_stop_waits_for_the_frame_in_progress_and_restart_abandons_a_stuck_thread():
    reader, release, done, current = QueueReader(), threading.Event(), [], {}

    def process(frame):
        if frame == 'stuck':
            release.wait(5.0)
        current[frame] = worker.is_current()  # what the pipeline asks before each stage
        done.append(frame)

    worker = FrameWorker(reader, process, lambda error, stage: None, wait_s=0.01)
    worker.start()
    reader.frames.put('stuck')
    assert wait_for(lambda: worker.seconds_in_frame() > 0.05)
    assert not worker.replaced_alive
    worker.restart()  # the stuck thread is abandoned; a new one serves frames
    reader.frames.put('next')
    assert wait_for(lambda: 'next' in done)
    assert worker.restarts == 1 and worker.replaced_alive
    release.set()
    assert wait_for(lambda: 'stuck' in done)
    # The replaced thread's frame came back late: it is told to drop it; the new one's is kept.
    assert current == {'stuck': False, 'next': True}
    assert wait_for(lambda: not worker.replaced_alive)
    assert worker.frames_done == 1  # the late frame is not counted as served
    assert worker.stop(timeout_s=2.0)
    assert not worker.alive
    threads = [thread for thread in threading.enumerate() if thread.name == 'posenet_worker']
    assert wait_for(lambda: not any(thread.is_alive() for thread in threads))


def test_the_rate_limited_log_keys_on_the_cause_not_the_numbers():
    lines = []
    log = RateLimitedLog(lines.append, period_s=60.0)
    for size in range(10):
        log(f'data holds {size} bytes, fewer than step * height = 36 * 12 = 432')
    log("unsupported encoding 'weird16'")
    assert len(lines) == 2
    assert cause_of('a 640x480 frame, 1.5e3 ms') == cause_of('a 1280x720 frame, 12 ms')


def test_the_rate_limited_log_says_how_many_were_held_back():
    lines = []
    log = RateLimitedLog(lines.append, period_s=0.2)
    for _ in range(5):
        log('bad frame 1')
    time.sleep(0.25)
    log('bad frame 2')
    assert len(lines) == 2 and '(4 more like this' in lines[1]
