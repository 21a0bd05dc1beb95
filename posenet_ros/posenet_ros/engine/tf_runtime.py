"""
TensorFlow, loaded only where it is needed: to convert a model, or for the TF-graph backends.

A process that runs a cached TFLite model never imports TensorFlow (about 550 MB of resident
memory and 3 s); everything in the engine that needs it calls `import_tensorflow`, which also
applies the thread budget (`num_threads`) before TensorFlow starts its thread pools.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

# Device files a GPU TensorFlow can use need: NVIDIA (CUDA), AMD (ROCm), WSL's GPU bridge.
_GPU_DEVICE_FILES = ('/dev/nvidiactl', '/dev/nvidia0', '/dev/kfd', '/dev/dxg')
_log = logging.getLogger('posenet_ros.engine')


def available_cores() -> int:
    """Return the cores this process may run on."""
    if hasattr(os, 'sched_getaffinity'):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def thread_count(num_threads: int) -> int:
    """`num_threads` as a thread count: 0 means every available core."""
    if num_threads < 0:
        raise ValueError(
            f'num_threads must be 0 (all cores) or a positive count, got {num_threads}')
    return num_threads or available_cores()


def gpu_device_present() -> bool:
    """Whether the machine has a GPU device TensorFlow could use (checked without TensorFlow)."""
    return any(Path(path).exists() for path in _GPU_DEVICE_FILES)


def import_tensorflow(num_threads: int = 0):
    """
    Return the `tensorflow` module, its thread pools limited to `num_threads`.

    Limits the intra- and inter-op pools to `num_threads` (0: TensorFlow's default, every
    core) when it has not started them yet.
    """
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # TensorFlow's INFO lines
    import tensorflow as tf
    if num_threads:
        threading = tf.config.threading
        if (threading.get_intra_op_parallelism_threads() != num_threads
                or threading.get_inter_op_parallelism_threads() != num_threads):
            try:
                threading.set_intra_op_parallelism_threads(num_threads)
                threading.set_inter_op_parallelism_threads(num_threads)
            except RuntimeError as error:  # TensorFlow already ran with other settings
                _log.warning('cannot limit TensorFlow to %d threads: %s', num_threads, error)
    return tf
