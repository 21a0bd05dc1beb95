"""
Which int8 models are run: calibrated earlier (the model cache), given by the user, or built.

The node's "model calibrated earlier" takes only an intact model made with the default
quantization options; a model given by the user must be an int8 model (of our recipe) of the
weights in use; a child calibrating for its parent leaves no copy of the frames behind.
Small inputs (129x129): calibrating one takes seconds.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path
import subprocess
import sys
import textwrap

from ai_edge_litert.interpreter import Interpreter
import numpy as np
from posenet_ros.engine import tflite_cache
from posenet_ros.engine.config import EstimateConfig
from posenet_ros.engine.estimator import PoseEstimator
from posenet_ros.engine.image_io import load_image_rgb
from posenet_ros.engine.int8_backend import find_calibrated_model, QuantizeOptions
from posenet_ros.ros.parameters import LIVE, live_settings, SPECS
from posenet_ros.ros.pipeline import Frame
from posenet_ros.ros.stages.int8_calibration import Int8CalibrationStage
import pytest

MODEL = 'mobilenet_quant2_050'
SIZE = (129, 129, 16)  # input height, width, stride: small, quick to calibrate
CONFIG = EstimateConfig(input_height=SIZE[0], input_width=SIZE[1], output_stride=SIZE[2])


@pytest.fixture(scope='module')
def photos(data_path) -> list[np.ndarray]:
    return [load_image_rgb(path) for path in sorted((data_path / 'smoke').glob('*.jpg'))[:2]]


@pytest.fixture
def cache(tmp_path, monkeypatch, models_path) -> Path:
    monkeypatch.setenv('POSENET_MODELS', str(models_path))
    monkeypatch.setenv('POSENET_CACHE', str(tmp_path / 'cache'))
    return tmp_path / 'cache' / 'tflite'


def _int8(photos, options=QuantizeOptions(), model=MODEL) -> PoseEstimator:
    """Return an int8 estimator calibrated on `photos` into the cache (its model of SIZE)."""
    estimator = PoseEstimator(model, backend='tflite', precision='int8',
                              calibration_images=photos, quantize_options=options)
    estimator.int8_model(*SIZE)
    return estimator


def _find(estimator) -> Path | None:
    """Return what the node's int8 stage looks up: a model calibrated earlier for SIZE."""
    return find_calibrated_model(estimator.model_path, estimator.multiplier, *SIZE)


def _damage(path: Path) -> None:
    """Flip bytes in the middle of the model (its weights): it still loads and runs."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 2000] = bytes(byte ^ 0x5A for byte in data[middle:middle + 2000])
    path.write_bytes(bytes(data))


def _newer(path: Path, seconds: float) -> None:
    stamp = path.stat().st_mtime + seconds
    os.utime(path, (stamp, stamp))


def test_a_model_calibrated_earlier_is_taken_only_when_made_with_the_default_options(
        cache, photos):
    """
    posenet_int8_study's variants share the cache: the node must not run one of them.

    Here the naive `fused` one (one output for all heads), newer than the default model.
    """
    fused = _int8(photos, QuantizeOptions(per_head_outputs=False, bias_correction=False))
    assert _find(fused) is None
    default = _int8(photos[:1])
    _newer(fused.cached_model_path(CONFIG), 60)
    found = _find(fused)
    assert found == default.cached_model_path(CONFIG)
    model = tflite_cache.read_entry(found)
    assert model == default.int8_model(*SIZE)
    assert len(Interpreter(model_content=model).get_output_details()) == 4  # one per head


def test_a_damaged_newest_model_is_passed_over_for_an_older_intact_one(
        cache, photos, caplog):
    older = _int8(photos[:1]).cached_model_path(CONFIG)
    newer = _int8(photos).cached_model_path(CONFIG)
    _newer(newer, 60)
    _damage(newer)
    estimator = PoseEstimator(MODEL, backend='tflite')
    with caplog.at_level(logging.WARNING, logger='posenet_ros.engine'):
        assert _find(estimator) == older
    assert any(str(newer) in record.getMessage() for record in caplog.records)
    _damage(older)
    assert _find(estimator) is None


class _Node:
    """What the node gives the int8 stage: its estimators, and what it logged and ran."""

    def __init__(self, find_saved):
        self.find_saved = find_saved
        self.log: list[str] = []
        self.switched: list = []

    def make_int8(self, frames=None, model=None):
        return PoseEstimator(MODEL, backend='tflite', precision='int8',
                             calibration_images=frames or (),
                             int8_models=[model] if model is not None else ())

    def switch(self, estimator, ready):
        self.switched.append((estimator, ready))

    def stage(self, frames_wanted=2) -> Int8CalibrationStage:
        return Int8CalibrationStage(frames_wanted, self.find_saved, self.make_int8, self.switch,
                                    self.log.append, self.log.append)


def _frame(rgb) -> Frame:
    settings = live_settings({name: SPECS[name].default for name in LIVE}, 0.5)
    return Frame(message=None, settings=dataclasses.replace(settings, config=CONFIG), rgb=rgb)


def test_the_int8_stage_never_runs_a_damaged_model_calibrated_earlier(cache, photos):
    """
    A cache entry damaged after it was found is logged and calibrated again, never run.

    Its weights damaged, it would load, run and give other poses.
    """
    saved = _int8(photos).cached_model_path(CONFIG)
    _damage(saved)
    node = _Node(lambda height, width, stride: saved)
    stage = node.stage(frames_wanted=1)
    stage(_frame(photos[0]))
    assert stage.wait(60)
    assert node.switched == []
    assert any('unusable' in line and str(saved) in line for line in node.log), node.log
    assert not stage.done
    stage(_frame(photos[1]))  # kept for calibrating, which starts now
    assert 'int8: calibrating on 1 camera frames' in node.log[-1]
    assert stage.wait(300) and stage.done


def test_the_int8_stage_takes_the_newest_intact_model_calibrated_earlier(cache, photos):
    """The node's lookup, with the newest entry damaged: the older one runs."""
    older = _int8(photos[:1])
    expected = older.estimate(photos[1], CONFIG).poses
    newer = _int8(photos).cached_model_path(CONFIG)
    _newer(newer, 60)
    _damage(newer)
    node = _Node(lambda height, width, stride: _find(older))
    stage = node.stage()
    stage(_frame(photos[1]))
    assert stage.wait(60) and stage.done
    [(estimator, ready)] = node.switched
    assert ready == SIZE
    got = estimator.estimate(photos[1], CONFIG).poses
    assert [pose.score for pose in got] == [pose.score for pose in expected]


# Runs in a fresh interpreter (no TensorFlow: the model is calibrated in a child process); the
# child is stopped once it has loaded TensorFlow (it has read the frames by then), as a node
# releasing its model stops it. Prints the folders in $TMPDIR then, and once the estimator went.
_STOPPED_BUILD_SCRIPT = textwrap.dedent("""
    import gc, json, pathlib, sys, tempfile, threading, time
    import psutil
    from posenet_ros.engine.estimator import PoseEstimator
    from posenet_ros.engine.image_io import load_image_rgb
    from posenet_ros.engine.tflite_build import ModelBuildError, stop_child_builds
    frames = [load_image_rgb(path) for path in sys.argv[1:]]
    estimator = PoseEstimator('mobilenet_quant2_050', backend='tflite', precision='int8',
                              calibration_images=frames)
    errors = []

    def build():
        try:
            estimator.int8_model(129, 129, 16)
        except ModelBuildError as error:
            errors.append(str(error))  # not the error: its frames hold the backend

    builder = threading.Thread(target=build)
    builder.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        children = psutil.Process().children()
        maps = ''
        for child in children:
            try:
                maps += open(f'/proc/{child.pid}/maps').read()
            except OSError:
                pass
        if 'libtensorflow_framework' in maps:
            break
        time.sleep(0.1)
    else:
        sys.exit('the child never loaded TensorFlow')
    assert stop_child_builds() == 1
    builder.join()
    assert errors and 'was stopped' in errors[0], errors

    def scratch():
        folder = pathlib.Path(tempfile.gettempdir())
        return sorted(str(path.relative_to(folder)) for path in folder.rglob('*'))

    print(json.dumps(scratch()))
    del estimator
    gc.collect()
    print(json.dumps(scratch()))
""")


def test_a_stopped_int8_child_build_leaves_no_calibration_frames_behind(
        models_path, data_path, tmp_path):
    """
    The child calibrates from its parent's frames file: only the parent's folder exists.

    A child stopped or killed never removes a folder of its own (48 camera frames: 44 MB).
    """
    scratch = tmp_path / 'tmp'
    scratch.mkdir()
    photos = [str(path) for path in sorted((data_path / 'smoke').glob('*.jpg'))[:2]]
    done = subprocess.run(
        [sys.executable, '-c', _STOPPED_BUILD_SCRIPT, *photos], capture_output=True, text=True,
        timeout=300, env=dict(os.environ, TMPDIR=str(scratch), POSENET_MODELS=str(models_path),
                              POSENET_CACHE=str(tmp_path / 'cache'), TF_CPP_MIN_LOG_LEVEL='2'))
    assert done.returncode == 0, done.stderr[-2000:]
    stopped, released = map(json.loads, done.stdout.strip().splitlines()[-2:])
    [folder] = [name for name in stopped if '/' not in name]  # the parent's
    assert folder.startswith('posenet_int8_')
    assert stopped == [folder, f'{folder}/calibration.npz']
    assert released == [] and list(scratch.iterdir()) == []


@pytest.fixture(scope='module')
def int8_model(photos, models_path, tmp_path_factory) -> bytes:
    """Return the int8 model of MODEL at SIZE, default options."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv('POSENET_MODELS', str(models_path))
        patch.setenv('POSENET_CACHE', str(tmp_path_factory.mktemp('cache')))
        return _int8(photos).int8_model(*SIZE)


def test_a_given_model_made_from_these_weights_is_taken(int8_model, models_path, photos):
    estimator = PoseEstimator(str(models_path / MODEL), backend='tflite', precision='int8',
                              int8_models=[int8_model])
    assert estimator.estimate(photos[0], CONFIG).poses


def test_a_given_float32_model_is_refused_with_the_reason(cache, data_path, photos, tmp_path,
                                                          capsys):
    """posenet_estimate --calibration and the node's int8_calibration take int8 models only."""
    from posenet_ros.tools import estimate
    float32 = PoseEstimator(MODEL, backend='tflite')
    float32.estimate(photos[0], CONFIG)
    model = tflite_cache.read_entry(float32.cached_model_path(CONFIG))
    with pytest.raises(ValueError, match=r'the int8 model for 129x129 stride 16 is not an int8 '
                                         r'model \(convolution weights: 28 float32; '):
        PoseEstimator(MODEL, backend='tflite', precision='int8', int8_models=[model])
    saved = tmp_path / 'float32.tflite'
    saved.write_bytes(model)
    photo = sorted((data_path / 'smoke').glob('*.jpg'))[0]
    assert estimate.main([str(photo), '--model', MODEL, '--resolution', '129', '--precision',
                          'int8', '--calibration', str(saved), '--quiet']) == 2
    assert 'is not an int8 model' in capsys.readouterr().err


def test_a_given_model_of_the_earlier_full_integer_recipe_is_taken(cache, photos):
    """
    A model calibrated before the first layers ran in float (int8 from Conv2d_0 on) still runs.

    Its poses are its own (not the default recipe's); one with more float layers is refused.
    """
    full = _int8(photos, QuantizeOptions(float_layers=0)).int8_model(*SIZE)
    reused = PoseEstimator(MODEL, backend='tflite', precision='int8', int8_models=[full])
    assert reused.estimate(photos[0], CONFIG).poses
    more = _int8(photos, QuantizeOptions(float_layers=5)).int8_model(*SIZE)
    with pytest.raises(ValueError, match=r'is not an int8 model \(convolution weights: '
                                         r'5 float32, 26 int8;'):
        PoseEstimator(MODEL, backend='tflite', precision='int8', int8_models=[more])


def test_a_given_model_made_from_other_weights_of_the_same_width_is_refused(
        int8_model, models_path):
    """
    mobilenet_float_050's and mobilenet_quant2_050's first layers differ by 16-bit rounding.

    Even so the int8 model of one is a whole int8 step off the other somewhere (measured on
    every int8 model of the cache: its own weights within a thousandth of a step).
    """
    with pytest.raises(ValueError, match=r'the int8 model for 129x129 stride 16 was made from '
                                         r'other weights: its first convolution is up to '):
        PoseEstimator(str(models_path / 'mobilenet_float_050'), backend='tflite',
                      precision='int8', int8_models=[int8_model])


@pytest.fixture(scope='module')
def converted(photos, models_path) -> bytes:
    """Return the int8 model of `int8_model` as the converter makes it (float32 input)."""
    from posenet_ros.engine.mobilenet import MobileNetTensors, output_strided_layers
    from posenet_ros.engine.quantize import calibration_inputs, converted_model
    from posenet_ros.engine.weights import load_weights
    weights = load_weights(models_path / MODEL)
    return converted_model(MobileNetTensors(weights),
                           output_strided_layers(weights.multiplier, SIZE[2]), SIZE[0], SIZE[1],
                           calibration_inputs(photos, SIZE[0], SIZE[1]))


def _run(model: bytes, inputs: np.ndarray) -> list[np.ndarray]:
    interpreter = Interpreter(model_content=model)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]['index'], inputs)
    interpreter.invoke()
    return [interpreter.get_tensor(detail['index']) for detail in
            sorted(interpreter.get_output_details(), key=lambda detail: detail['name'])]


def _first_ops(model: bytes) -> list[str]:
    interpreter = Interpreter(model_content=model)
    return [op['op_name'] for op in interpreter._get_ops_details()[:3]]  # noqa: SLF001


def test_the_int8_model_takes_the_frames_bytes_and_gives_the_converters_outputs(
        int8_model, converted, photos):
    """
    The int8 model takes uint8 and gives, to the last bit, what the converter's model gives.

    The converter's model takes float32, rounds it to whole grey levels (ROUND) and scales it
    (MUL); ours takes the whole grey levels (`uint8_input`: one DEQUANTIZE instead), so the
    int8 path copies a frame in as bytes, and may resize with OpenCV
    (`pad_and_resize_rounded`: the exact resize rounded, up to a few values per million).
    """
    from posenet_ros.engine.backends import _Interpreter
    from posenet_ros.engine.preprocess import compute_padding, pad_and_resize
    from posenet_ros.engine.uint8_input import with_uint8_input
    assert int8_model == with_uint8_input(converted)  # what calibrating makes
    assert _Interpreter(int8_model).input_dtype == np.uint8
    assert _Interpreter(converted).input_dtype == np.float32
    assert _first_ops(converted) == ['ROUND', 'MUL', 'SUB']
    assert _first_ops(int8_model) == ['DEQUANTIZE', 'SUB', 'CONV_2D']
    every_level = np.resize(np.arange(256, dtype=np.uint8), (1,) + SIZE[:2] + (3,))
    exact = [pad_and_resize(photo, compute_padding(*photo.shape[:2], *SIZE[:2]), *SIZE[:2])
             for photo in photos]
    assert all(np.any(frame != np.round(frame)) for frame in exact)  # fractions to lose
    for frame in [every_level.astype(np.float32)] + exact:
        got = _run(int8_model, np.round(frame).astype(np.uint8))
        for head, want in zip(got, _run(converted, frame), strict=True):
            np.testing.assert_array_equal(head, want)
    # Fractions are refused, not truncated to bytes.
    with pytest.raises(ValueError, match='network input of float32, the model takes uint8'):
        _Interpreter(int8_model).feed(exact[0])


def test_an_int8_model_made_before_it_took_uint8_runs_the_same(
        int8_model, converted, cache, photos):
    """
    Models saved by posenet_quantize, or cached, before int8 models took uint8 still run.

    Given or found in the model cache, one is given the uint8 input at load (not calibrated
    again) and finds the same poses as a model made now.
    """
    def _poses(estimator) -> tuple[list, list]:
        poses = estimator.estimate(photos[0], CONFIG).poses
        return [pose.score for pose in poses], [pose.keypoint_coords.tolist() for pose in poses]

    now = PoseEstimator(MODEL, backend='tflite', precision='int8', int8_models=[int8_model])
    before = PoseEstimator(MODEL, backend='tflite', precision='int8', int8_models=[converted])
    assert before.int8_model(*SIZE) == int8_model
    want = _poses(now)
    assert want[0] and _poses(before) == want
    cached = PoseEstimator(MODEL, backend='tflite', precision='int8', calibration_images=photos)
    entry = tflite_cache.entry_path(cached._network.inference.cache_key(*SIZE))  # noqa: SLF001
    entry.parent.mkdir(parents=True)
    tflite_cache.write_entry(entry, converted)
    assert _poses(cached) == want
    assert cached.int8_model(*SIZE) == int8_model
    assert tflite_cache.read_entry(entry) == converted  # found, not calibrated again
