"""
Entry point of the `posenet_node` executable: signals first, then the heavy imports.

rclpy, NumPy and OpenCV take a second or more to import; a Ctrl-C meanwhile must end the
process cleanly like one at any later moment, so the stop handlers go in before them.
"""
from __future__ import annotations

import sys

from posenet_ros.engine.heap import reuse_frame_memory
from posenet_ros.engine.opencv_pool import sleep_idle_workers
from posenet_ros.ros.stop_signals import StopSignals


def main(args=None) -> int:
    stop_requested = StopSignals()
    if stop_requested():
        return 0
    reuse_frame_memory()  # a frame's large arrays are reused, not mapped anew (engine/heap.py)
    sleep_idle_workers()  # before OpenCV loads: no spinning between frames (engine/opencv_pool.py)
    from posenet_ros.ros.node import run
    try:
        return run(stop_requested, args)
    finally:
        stop_requested.ignore_from_now()


if __name__ == '__main__':
    sys.exit(main())
