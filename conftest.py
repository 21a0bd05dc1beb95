"""Test fixtures of both packages: where the weights, photos and reference outputs are.

They come from `../shared` beside the repository (or $POSENET_SHARED / $POSENET_MODELS). A test
that needs them is skipped, with the reason shown, when they are absent; with
POSENET_REQUIRE_SHARED=1 (what .ci/run sets) it fails instead, so CI never passes by skipping.
"""
from __future__ import annotations

import os
from pathlib import Path
import shutil
import signal

import pytest

REPO_ROOT = Path(__file__).resolve().parent
# The commands tests start (`ros2 launch`, the node) take Ctrl-C as from a terminal. A test run
# started in the background by a non-interactive shell (`scripts/test.sh &`, nohup) has SIGINT
# ignored, and a child inherits that: `ros2 launch` never hears its Ctrl-C (launch relies on
# Python's own SIGINT handler, which Python does not install over an ignored SIGINT).
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
# The tools take the shared folder from $POSENET_SHARED or the current folder; tests may start
# anywhere, so point them (and the processes they start) at the one beside the checkout.
os.environ.setdefault('POSENET_SHARED', str(REPO_ROOT.parent / 'shared'))

from posenet_tools.shared_data import models_dir, shared_dir  # noqa: E402


def _unavailable(message: str):
    """Skip the test with the reason; with POSENET_REQUIRE_SHARED=1, fail it instead."""
    if os.environ.get('POSENET_REQUIRE_SHARED') == '1':
        pytest.fail(message)
    pytest.skip(message)


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        _unavailable(f'{what} not found at {path} (set POSENET_SHARED or POSENET_MODELS)')
    return path


@pytest.fixture(scope='session')
def models_path() -> Path:
    """Folder holding one sub-folder per published PoseNet weight set."""
    return _need(models_dir(), 'PoseNet weights')


@pytest.fixture(scope='session')
def data_path() -> Path:
    """../shared/data: COCO photos with keypoint annotations and smoke-test photos."""
    return _need(shared_dir() / 'data', 'test photos')


@pytest.fixture(scope='session')
def reference_path() -> Path:
    """../shared/reference: outputs of the original tfjs PoseNet 2.2.2."""
    return _need(shared_dir() / 'reference', 'reference outputs')


@pytest.fixture(scope='session')
def tfjs_runner():
    """Return the original, installed once into the cache (npm registry needed the first time)."""
    from posenet_tools.tfjs_reference import TfjsReference, TfjsReferenceError
    if shutil.which('node') is None or shutil.which('npm') is None:
        _unavailable('Node.js/npm not installed: the original cannot be run')
    runner = TfjsReference()
    try:
        runner.install()
    except TfjsReferenceError as error:
        _unavailable(f'the original could not be installed: {error}')
    return runner


@pytest.fixture
def shared_models(models_path, monkeypatch):
    """Model names resolve to the shared weights (never a download)."""
    monkeypatch.setenv('POSENET_MODELS', str(models_path))
    return models_path
