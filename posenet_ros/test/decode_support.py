"""
Helpers for the decoder tests: real network outputs and the original decoders as an oracle.

Network outputs come from real photos through Google's Coral TFLite PoseNet 0.75 (stride 16;
its uint8 outputs make many scores tie, which exercises the heap's tie order) and, when it is
there, our own estimator (float outputs, strides 8 and 16).

The oracle is tfjs-models posenet 2.2.2 itself: `decode_oracle.js` loads its decoders from the
Node.js install that `posenet_tools.tfjs_reference` keeps (npm ci once, from the pinned
lock file in the shared folder) and runs them on the very same float32 arrays.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
import shutil
import subprocess
import tempfile

import numpy as np
from posenet_ros.engine.types import NetworkOutputs
from posenet_tools.bench_decode import coral_outputs
import pytest

HERE = Path(__file__).resolve().parent


def _unavailable(message: str):
    if os.environ.get('POSENET_REQUIRE_SHARED') == '1':
        pytest.fail(message)
    pytest.skip(message)


def tflite_outputs(models_path: Path, image_rgb: np.ndarray, size=(353, 481)) -> NetworkOutputs:
    """
    Return the Coral PoseNet's outputs for a photo resized (stretched) to `size`.

    As float32 maps.
    """
    return coral_outputs(models_path, image_rgb, size)


def estimator_or_skip(models_path: Path, model: str):
    """Our estimator on the given shared weights (skipped if the engine is not importable)."""
    try:
        from posenet_ros.engine.estimator import PoseEstimator
    except ImportError as error:
        _unavailable(f'the estimator is not available: {error}')
    return PoseEstimator(str(models_path / model))


def oracle_node_modules() -> Path:
    """node_modules holding the original posenet 2.2.2 and tfjs-core (installed on first use)."""
    if shutil.which('node') is None or shutil.which('npm') is None:
        _unavailable('Node.js/npm not installed: the original decoders cannot run')
    from posenet_tools.tfjs_reference import TfjsReference, TfjsReferenceError
    reference = TfjsReference()
    try:
        reference.install()
    except TfjsReferenceError as error:
        _unavailable(f'the original could not be installed: {error}')
    modules = reference.work_dir / 'node_modules'
    if not (modules / '@tensorflow-models' / 'posenet' / 'dist').is_dir():
        _unavailable(f'no @tensorflow-models/posenet under {modules}')
    return modules


class Oracle:
    """Collects decoding jobs, runs them all in one Node.js process, returns the answers."""

    def __init__(self, node_modules: Path):
        self.node_modules = node_modules
        self.jobs: list[dict] = []
        self.blobs: list[bytes] = []
        self.size = 0

    def _map(self, array) -> list:
        array = np.ascontiguousarray(array, dtype='<f4')
        entry = [self.size, list(array.shape)]
        self.blobs.append(array.tobytes())
        self.size += array.size
        return entry

    def _add(self, job: dict) -> int:
        self.jobs.append(job)
        return len(self.jobs) - 1

    def multi(self, outputs: NetworkOutputs, stride, max_detections, score, nms) -> int:
        maps = [self._map(a) for a in (outputs.heatmap_scores, outputs.offsets,
                                       outputs.displacements_fwd, outputs.displacements_bwd)]
        return self._add({'kind': 'multi', 'maps': maps, 'stride': stride,
                          'max': max_detections, 'score': score, 'nms': nms})

    def single(self, outputs: NetworkOutputs, stride) -> int:
        maps = [self._map(a) for a in (outputs.heatmap_scores, outputs.offsets)]
        return self._add({'kind': 'single', 'maps': maps, 'stride': stride})

    def scale(self, poses, image_size, input_size, padding, flip) -> int:
        return self._add({
            'kind': 'scale', 'image': list(image_size), 'input': list(input_size), 'flip': flip,
            'padding': {'top': padding.top, 'bottom': padding.bottom, 'left': padding.left,
                        'right': padding.right},
            'poses': [np.c_[p.keypoint_coords, p.keypoint_scores].tolist() for p in poses]})

    def js_round(self, values) -> int:
        return self._add({'kind': 'round', 'values': [float(v) for v in values]})

    def run(self) -> list:
        with tempfile.TemporaryDirectory() as folder:
            data = Path(folder) / 'maps.bin'
            data.write_bytes(b''.join(self.blobs))
            spec = Path(folder) / 'jobs.json'
            spec.write_text(json.dumps({'data': str(data), 'jobs': self.jobs}))
            done = subprocess.run(
                ['node', str(HERE / 'decode_oracle.js'), str(self.node_modules), str(spec)],
                capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f'oracle failed:\n{done.stderr[-3000:]}'
        return json.loads(done.stdout)


def as_rows(pose) -> list:
    """Return a decoded Pose as the oracle's [[x, y, score] x 17] (exact float64 values)."""
    return np.c_[pose.keypoint_coords, pose.keypoint_scores].tolist()


def assert_same_poses(ours, theirs, label=''):
    """Bit-for-bit equality of our poses and the oracle's, with a useful message if not."""
    assert len(ours) == len(theirs), f'{label}: {len(ours)} poses, original {len(theirs)}'
    for i, (pose, answer) in enumerate(zip(ours, theirs)):
        rows = np.array(as_rows(pose))
        expected = np.array(answer['keypoints'])
        assert np.array_equal(rows, expected), (
            f'{label}: pose {i} differs by up to {np.abs(rows - expected).max(axis=0)} '
            '(x, y, score)')
        assert pose.score == answer['score'], (
            f'{label}: pose {i} score {pose.score!r}, original {answer["score"]!r}')
