"""
Converted TFLite models on disk.

A process whose model is cached never loads TensorFlow and gets the same poses as one that
converted the model itself; a damaged entry is rebuilt.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
import subprocess
import sys
import textwrap

import numpy as np
from PIL import Image
from posenet_ros.engine import tflite_cache
from posenet_ros.engine.config import EstimateConfig
from posenet_ros.engine.estimator import PoseEstimator
import pytest

MODEL = 'mobilenet_quant2_050'
SIZE = (161, 225)  # small: quick to convert
PHOTO = 'zidane.jpg'

# Runs in a fresh interpreter: estimate one photo, report the poses and what was imported.
_ESTIMATE_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    from PIL import Image
    from posenet_ros.engine.config import EstimateConfig
    from posenet_ros.engine.estimator import PoseEstimator
    model, photo, height, width = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    image = np.asarray(Image.open(photo).convert('RGB'))
    estimator = PoseEstimator(model, device='auto', num_threads=1)
    result = estimator.estimate(image, EstimateConfig(input_height=height, input_width=width))
    poses = [[pose.score, pose.keypoint_scores.tolist(), pose.keypoint_coords.tolist()]
             for pose in result.poses]
    print(json.dumps({'tensorflow': 'tensorflow' in sys.modules, 'backend': estimator.backend,
                      'poses': poses}))
""")


# Runs in a fresh interpreter, where a missing model is converted in a child process: the
# heatmaps of the TFLite network for one photo, saved to a .npy file.
_HEATMAPS_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    from PIL import Image
    from posenet_ros.engine.config import EstimateConfig
    from posenet_ros.engine.estimator import PoseEstimator
    model, photo, out = sys.argv[1:4]
    image = np.asarray(Image.open(photo).convert('RGB'))
    estimator = PoseEstimator(model, backend='tflite', device='cpu', num_threads=1)
    outputs = estimator.infer(image, EstimateConfig())[0]
    assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'
    np.save(out, outputs.heatmap_scores)
""")


def _environment(cache: Path, models_path: Path) -> dict:
    env = dict(os.environ, POSENET_CACHE=str(cache), POSENET_MODELS=str(models_path))
    package_root = str(Path(__file__).resolve().parents[1])
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [package_root, env.get('PYTHONPATH')]))
    return env


def _estimate_in_fresh_process(cache: Path, models_path: Path, photo: Path) -> dict:
    done = subprocess.run(
        [sys.executable, '-c', _ESTIMATE_SCRIPT, MODEL, str(photo), *map(str, SIZE)],
        env=_environment(cache, models_path), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _poses(result) -> list:
    return [[pose.score, pose.keypoint_scores.tolist(), pose.keypoint_coords.tolist()]
            for pose in result.poses]


def _cache_entries(cache: Path) -> list[Path]:
    return sorted((cache / 'tflite').glob('*.tflite'))


@pytest.fixture
def photo(data_path) -> Path:
    return data_path / 'smoke' / PHOTO


def test_a_cached_model_runs_without_tensorflow_and_gives_the_converted_models_poses(
        tmp_path, models_path, photo, monkeypatch):
    cache = tmp_path / 'cache'
    cold = _estimate_in_fresh_process(cache, models_path, photo)
    # Converted in a child process: the estimating process did not load TensorFlow either.
    assert cold['tensorflow'] is False and cold['backend'] == 'tflite'
    assert len(_cache_entries(cache)) == 1
    warm = _estimate_in_fresh_process(cache, models_path, photo)
    assert warm['tensorflow'] is False
    assert warm['poses'] and warm['poses'] == cold['poses']

    # With TensorFlow loaded, the model is converted in this process, into another cache.
    import tensorflow  # noqa: F401
    monkeypatch.setenv('POSENET_CACHE', str(tmp_path / 'converted_here'))
    image = np.asarray(Image.open(photo).convert('RGB'))
    estimator = PoseEstimator(str(models_path / MODEL), backend='tflite', device='cpu')
    result = estimator.estimate(image, EstimateConfig(input_height=SIZE[0], input_width=SIZE[1]))
    assert _poses(result) == warm['poses']
    assert len(_cache_entries(tmp_path / 'converted_here')) == 1


def test_posenet_estimate_with_a_warm_cache_never_imports_tensorflow(
        tmp_path, models_path, photo):
    cache = tmp_path / 'cache'
    env = _environment(cache, models_path)
    prepare = subprocess.run(
        [sys.executable, '-m', 'posenet_ros.tools.estimate', '--prepare', '--model', MODEL,
         '--resolution', f'{SIZE[0]}x{SIZE[1]}'],
        env=env, capture_output=True, text=True, timeout=300)
    assert prepare.returncode == 0, prepare.stderr
    assert len(_cache_entries(cache)) == 1
    script = ('import sys; from posenet_ros.tools.estimate import main; '
              'code = main(sys.argv[1:]); '
              'print("TENSORFLOW", "tensorflow" in sys.modules, file=sys.stderr); sys.exit(code)')
    done = subprocess.run(
        [sys.executable, '-c', script, str(photo), '--model', MODEL, '--resolution',
         f'{SIZE[0]}x{SIZE[1]}', '--threads', '1', '--quiet'],
        env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert 'TENSORFLOW False' in done.stderr
    assert json.loads(done.stdout)['results'][0]['poses']


@pytest.mark.parametrize('damage', ['truncated', 'flipped byte', 'empty'])
def test_a_damaged_cache_entry_is_rebuilt_with_a_log_line(
        tmp_path, models_path, photo, monkeypatch, caplog, damage):
    monkeypatch.setenv('POSENET_CACHE', str(tmp_path / 'cache'))
    image = np.asarray(Image.open(photo).convert('RGB'))
    config = EstimateConfig(input_height=SIZE[0], input_width=SIZE[1])
    first = PoseEstimator(str(models_path / MODEL), backend='tflite', device='cpu')
    expected = _poses(first.estimate(image, config))
    [entry] = _cache_entries(tmp_path / 'cache')
    intact = entry.read_bytes()
    if damage == 'truncated':
        entry.write_bytes(intact[:len(intact) // 2])
    elif damage == 'flipped byte':
        entry.write_bytes(intact[:1000] + bytes([intact[1000] ^ 0xFF]) + intact[1001:])
    else:
        entry.write_bytes(b'')
    with pytest.raises(tflite_cache.CorruptModelError):
        tflite_cache.read_entry(entry)

    with caplog.at_level(logging.WARNING, logger='posenet_ros.engine'):
        again = PoseEstimator(str(models_path / MODEL), backend='tflite', device='cpu')
        assert _poses(again.estimate(image, config)) == expected
    assert any('rebuilding the TFLite model' in record.getMessage()
               and str(entry) in record.getMessage() for record in caplog.records)
    assert entry.read_bytes() == intact  # rebuilt and stored again, whole


def test_the_key_changes_with_the_weights_size_stride_and_precision(tmp_path, models_path):
    folder = tmp_path / 'weights'
    folder.mkdir()
    for file in (models_path / MODEL).iterdir():
        (folder / file.name).write_bytes(file.read_bytes())
    original = tflite_cache.weights_checksum(folder)
    assert tflite_cache.weights_checksum(models_path / MODEL) == original
    shard = folder / 'group1-shard1of1.bin'
    data = bytearray(shard.read_bytes())
    data[100] ^= 1
    shard.write_bytes(bytes(data))
    assert tflite_cache.weights_checksum(folder) != original

    key = tflite_cache.TfliteModelKey(original, 0.5, 161, 225, 16)
    names = {key.file_name('2.21.0'),
             tflite_cache.TfliteModelKey(original, 0.5, 161, 225, 8).file_name('2.21.0'),
             tflite_cache.TfliteModelKey(original, 0.5, 225, 161, 16).file_name('2.21.0'),
             tflite_cache.TfliteModelKey(original, 0.5, 161, 225, 16, 'int8').file_name('2.21.0'),
             key.file_name('2.20.0')}
    assert len(names) == 5 and key.precision == 'float32'


def _folder_with_tuned_weights(stock: Path, folder: Path) -> Path:
    """
    Return tuned.json: a second descriptor beside the stock files (linked) in `folder`.

    It lists a copy of the stock shard with the heatmap head's weights doubled.
    """
    folder.mkdir()
    for file in stock.iterdir():
        (folder / file.name).symlink_to(file)
    document = json.loads((stock / 'model-stride16.json').read_text())
    [group] = document['weightsManifest']
    [shard] = group['paths']
    data = bytearray((stock / shard).read_bytes())
    offset = 0
    for spec in group['weights']:
        assert spec['dtype'] == 'float32' and not spec.get('quantization')
        count = int(np.prod(spec['shape']))
        if spec['name'] == 'MobilenetV1/heatmap_2/weights':
            values = np.frombuffer(data, '<f4', count, offset) * np.float32(2.0)
            data[offset:offset + 4 * count] = values.astype('<f4').tobytes()
        offset += 4 * count
    (folder / 'tuned-shard1of1.bin').write_bytes(bytes(data))
    group['paths'] = ['tuned-shard1of1.bin']
    (folder / 'tuned.json').write_text(json.dumps(document))
    return folder / 'tuned.json'


def test_weights_given_by_descriptor_file_are_the_ones_converted_and_keyed(
        tmp_path, models_path, photo, monkeypatch):
    """
    A descriptor file beside the folder's stock one: TFLite runs the weights it names.

    Converted in a child process (a fresh process has no TensorFlow) and keyed in the cache by
    that descriptor's files, the folder's default descriptor (other weights) left aside.
    """
    cache = tmp_path / 'cache'
    tuned = _folder_with_tuned_weights(models_path / 'mobilenet_float_050', tmp_path / 'weights')
    saved = tmp_path / 'heatmaps.npy'
    done = subprocess.run(
        [sys.executable, '-c', _HEATMAPS_SCRIPT, str(tuned), str(photo), str(saved)],
        env=_environment(cache, models_path), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    [entry] = _cache_entries(cache)
    assert entry.name.startswith(f'posenet-{tflite_cache.weights_checksum(tuned)[:24]}-')

    monkeypatch.setenv('POSENET_CACHE', str(tmp_path / 'unused'))
    image = np.asarray(Image.open(photo).convert('RGB'))
    tflite = np.load(saved)
    expected = _function_heatmaps(tuned, image)
    np.testing.assert_allclose(tflite, expected, rtol=0, atol=1e-4)
    stock = _function_heatmaps(tuned.parent / 'model-stride16.json', image)
    assert np.abs(tflite - stock).max() > 0.05  # the tuned weights are told apart


def _function_heatmaps(weights: Path, image: np.ndarray) -> np.ndarray:
    """Return the heatmaps of TensorFlow's own graph (no TFLite, no cache) on the image."""
    estimator = PoseEstimator(str(weights), backend='function', device='cpu')
    return estimator.infer(image, EstimateConfig())[0].heatmap_scores


def test_num_threads_must_be_zero_or_a_count(models_path):
    with pytest.raises(ValueError, match='num_threads'):
        PoseEstimator(str(models_path / MODEL), backend='tflite', num_threads=-1)


@pytest.mark.parametrize('arguments, reason', [
    (['--prepare', 'photo.jpg'], '--prepare takes no inputs'),
    (['--prepare', '--backend', 'function'], '--prepare converts TFLite models'),
    ([], 'give photos, folders or videos'),
    (['--prepare', '--threads', '-1'], 'must be 0 or more'),
])
def test_posenet_estimate_refuses_prepare_mistakes_with_the_reason(arguments, reason, capsys):
    from posenet_ros.tools.estimate import main
    with pytest.raises(SystemExit) as exit_info:
        main(arguments)
    assert exit_info.value.code == 2
    assert reason in capsys.readouterr().err


def test_a_cache_that_cannot_be_written_still_gives_poses(tmp_path, models_path, photo):
    """POSENET_CACHE below a plain file: the model is converted for the process only."""
    blocker = tmp_path / 'not_a_folder'
    blocker.write_text('')
    done = subprocess.run(
        [sys.executable, '-c', _ESTIMATE_SCRIPT, MODEL, str(photo), *map(str, SIZE)],
        env=_environment(blocker / 'cache', models_path), capture_output=True, text=True,
        timeout=300)
    assert done.returncode == 0, done.stderr
    assert 'cannot be written' in done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result['poses'] and result['tensorflow'] is False


def test_a_cache_entry_that_cannot_be_written_still_gives_the_same_poses(
        tmp_path, models_path, photo):
    """
    The cache's folder takes files, but not the entry: the child converts into a spare file.

    A full disk fails that write the same way (here a folder stands where the entry goes).
    Before, the whole estimate failed with the child's error although the model was built.
    """
    stored = _estimate_in_fresh_process(tmp_path / 'first', models_path, photo)
    [entry] = _cache_entries(tmp_path / 'first')
    blocked = tmp_path / 'blocked'
    (blocked / 'tflite' / entry.name).mkdir(parents=True)
    done = subprocess.run(
        [sys.executable, '-c', _ESTIMATE_SCRIPT, MODEL, str(photo), *map(str, SIZE)],
        env=_environment(blocked, models_path), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert 'cannot store the float32 TFLite model' in done.stderr, done.stderr
    assert 'it serves this process only' in done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result['poses'] == stored['poses'] and result['tensorflow'] is False
    assert (blocked / 'tflite' / entry.name).is_dir()  # nothing written over it


def test_without_tensorflow_a_damaged_newest_entry_is_passed_over_for_an_intact_one(
        tmp_path, monkeypatch, caplog):
    """
    A robot without TensorFlow runs whichever converter's model its cache holds.

    It cannot rebuild one: a damaged newest entry is passed over (logged) for an older intact
    one, rather than failing the model.
    """
    monkeypatch.setenv('POSENET_CACHE', str(tmp_path))
    monkeypatch.setattr(tflite_cache, 'tensorflow_version', lambda: None)  # not installed
    key = tflite_cache.TfliteModelKey(weights_sha256='ab' * 32, multiplier=0.5,
                                      input_height=257, input_width=257, output_stride=16)
    older, newer = (tflite_cache.entry_path(key, version) for version in ('tf2.20.0', 'tf2.21.0'))
    tflite_cache.write_entry(older, b'a model of the older converter')
    tflite_cache.write_entry(newer, b'a model of the newer converter')
    os.utime(older, (1_000_000, 1_000_000))
    damaged = bytearray(newer.read_bytes())
    damaged[3] ^= 0xFF
    newer.write_bytes(bytes(damaged))
    with caplog.at_level(logging.WARNING, logger='posenet_ros.engine'):
        assert tflite_cache.find_entry(key) == older
    assert 'passing over an unusable cached model' in caplog.text
