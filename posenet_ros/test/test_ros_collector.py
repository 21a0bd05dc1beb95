"""
The node's use of Python's cycle collector: long-lived objects frozen, released models freed.

Frozen objects are left out of collections (that is what keeps a full collection from stalling
a frame); these tests check the two promises the node builds on: what a frame's imports leave is
frozen after that frame, and a model let go is still freed, cycles included.
"""
from __future__ import annotations

import gc
import importlib
import sys
import weakref

from posenet_ros.ros.stages.collector import (collect_everything, freeze_long_lived,
                                              FreezeAfterImportsStage)
import pytest


@pytest.fixture(autouse=True)
def unfrozen():
    """Leave the test process's collector as it was."""
    yield
    gc.unfreeze()


class _Model:
    """Stands for an estimator: an object in a reference cycle (as bound callbacks make)."""

    def __init__(self):
        self.me = self


def test_a_frozen_cycle_is_freed_once_everything_is_collected():
    model = _Model()
    alive = weakref.ref(model)
    freeze_long_lived()
    assert gc.get_freeze_count() > 0
    del model
    gc.collect()
    assert alive() is not None  # frozen: a collection leaves it alone
    collect_everything()
    assert alive() is None
    assert gc.get_freeze_count() == 0


def test_after_a_model_is_replaced_what_is_left_is_frozen_again():
    old, new = _Model(), _Model()
    gone, kept = weakref.ref(old), weakref.ref(new)
    freeze_long_lived()
    del old
    collect_everything(freeze_after=True)
    assert gone() is None
    assert gc.get_freeze_count() > 0
    del new
    gc.collect()
    assert kept() is not None  # frozen with the rest


def test_the_stage_freezes_after_a_frame_that_imported_modules_only(tmp_path, monkeypatch):
    stage = FreezeAfterImportsStage()
    stage(frame=None)
    assert gc.get_freeze_count() == 0  # nothing imported since the stage was made
    (tmp_path / 'posenet_lazy_import_probe.py').write_text('LOADED = [object()]\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module('posenet_lazy_import_probe')
    try:
        stage(frame=None)
        assert gc.get_freeze_count() > 0
        # No new module: no new freeze. A thread left by an earlier test may import one
        # meanwhile (the stage then rightly freezes): that attempt does not count.
        for _ in range(5):
            modules = len(sys.modules)
            stage(frame=None)
            frozen = gc.get_freeze_count()
            stage(frame=None)
            if len(sys.modules) == modules:
                break
        assert gc.get_freeze_count() == frozen
    finally:
        sys.modules.pop('posenet_lazy_import_probe', None)
