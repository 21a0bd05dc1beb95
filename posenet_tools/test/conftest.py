"""Fixtures of posenet_tools' tests: the original's runner, the shared weights by name."""
from __future__ import annotations

import shutil

from posenet_tools.tfjs_reference import TfjsReference, TfjsReferenceError
import pytest


@pytest.fixture(scope='session')
def tfjs_runner():
    """Return the original, installed once into the cache (npm registry needed the first time)."""
    if shutil.which('node') is None or shutil.which('npm') is None:
        pytest.skip('Node.js/npm not installed: the original cannot be run')
    runner = TfjsReference()
    try:
        runner.install()
    except TfjsReferenceError as error:
        pytest.skip(f'the original could not be installed: {error}')
    return runner


@pytest.fixture
def shared_models(models_path, monkeypatch):
    """Model names resolve to the shared weights (never a download)."""
    monkeypatch.setenv('POSENET_MODELS', str(models_path))
    return models_path
