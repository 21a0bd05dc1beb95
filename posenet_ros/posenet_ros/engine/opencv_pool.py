"""
OpenCV's thread pool in a program that runs frames: as many threads as the budget, idle when idle.

After each parallel call OpenCV's pthreads workers keep spinning for a while before they sleep
(its OPENCV_THREAD_POOL_ACTIVE_WAIT_WORKER setting, 2000 by default): 0.6 ms of CPU after every
call on 2 threads, measured here. A frame makes two such calls (the colour conversion; the int8
input's resize), and the spinning competes with the network that runs next. With the workers
sleeping at once, an in-process loop like the node's (bgr8 -> RGB, then int8 0.50 stride 16
multi, 2 threads, the 6 smoke photos, three alternated pairs) took 0.5-0.8 ms less CPU per frame
(257: 4.6-5.0 -> 4.0-4.9 ms; 353x481: 7.2-7.6 -> 6.7-6.8 ms), for 0-0.2 ms more wall time
(workers woken instead of caught spinning). A robot's computer is shared, so the node gives
that CPU back. OpenCV reads the setting when it is loaded, so the programs that run frames call
`sleep_idle_workers` before anything imports cv2 (a value the user set is kept); a library
import changes nothing.
"""
from __future__ import annotations

import os
import sys

ACTIVE_WAIT_SETTING = 'OPENCV_THREAD_POOL_ACTIVE_WAIT_WORKER'


def sleep_idle_workers() -> bool:
    """
    Have OpenCV's workers sleep as soon as they are idle; return whether it takes effect.

    Not when cv2 is already loaded (too late), nor over a value the user set.
    """
    if 'cv2' in sys.modules:
        return False
    os.environ.setdefault(ACTIVE_WAIT_SETTING, '0')
    return True


def limit_opencv_threads(num_threads: int) -> None:
    """
    Limit OpenCV's pool (image conversion, the int8 input's resize) to `num_threads`.

    0 leaves OpenCV's default (every core). The pool is the process's: programs call this with
    their thread budget, as they give it to the network.
    """
    if num_threads:
        import cv2
        cv2.setNumThreads(num_threads)
