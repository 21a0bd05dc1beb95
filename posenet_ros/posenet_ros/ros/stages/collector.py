"""
Stage: keep Python's cycle collector off the frame path.

A full collection walks every object the collector tracks: the node holds about 80 000 that live
as long as it does (rclpy, NumPy, the engine, the model, SciPy once tracking first matches), and
a full collection then stalls the frame it falls in for 40-50 ms. The lazy imports of the first
frames (SciPy's 415 modules) leave enough new objects to start one or two (42 and 53 ms within
the first 500 frames at 0.75, 353x481, 10 people); a steady stream of frames starts them rarely
(none in 1200 frames at 30 Hz), but each costs as much. `freeze_long_lived` collects once, then
moves every object alive out of the collector's sight (`gc.freeze`): a full collection walks
only what came later, 0.1 ms here. The node calls it when configured; this stage calls it again
after a frame that imported modules (frames 0 and 1 here: 0.3 and 6.8 ms). Garbage is still
freed by reference counts; only cycles among frozen objects wait, so `collect_everything`
unfreezes before a model is let go.
"""
from __future__ import annotations

import gc
import sys

from posenet_ros.ros.pipeline import Frame


def freeze_long_lived() -> None:
    """Collect what is garbage now, then leave everything alive out of later collections."""
    gc.collect()
    gc.freeze()


def collect_everything(freeze_after: bool = False) -> None:
    """
    Put frozen objects back under the collector and collect: memory let go is freed.

    freeze_after: then freeze what is left (a model replaced while the node goes on).
    """
    gc.unfreeze()
    gc.collect()
    if freeze_after:
        gc.freeze()


class FreezeAfterImportsStage:
    """After a frame that loaded modules, `freeze_long_lived` (cheap once the bulk is frozen)."""

    optional = True  # housekeeping after the poses are out (pipeline.py)

    def __init__(self):
        self._modules = len(sys.modules)

    def __call__(self, frame: Frame) -> None:
        modules = len(sys.modules)
        if modules != self._modules:
            self._modules = modules
            freeze_long_lived()
