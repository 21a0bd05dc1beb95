"""Reading Google's PoseNet weights: both published formats, dequantization, clear errors."""
from __future__ import annotations

import json
from pathlib import Path
import shutil

import numpy as np
from posenet_ros.engine import load_weights
from posenet_ros.engine.weights import (canonical_name, CANONICAL_NAMES, expected_shapes,
                                        WeightsError)
import pytest

MULTIPLIER_OF = {
    'mobilenet_float_050': 0.5, 'mobilenet_quant2_050': 0.5, 'mobilenet_quant2_075': 0.75,
    'mobilenet_quant1_100': 1.0, 'mobilenet_v1_075_weights': 0.75,
}


def linked_copy(source: Path, target: Path) -> Path:
    """
    Make a folder of symlinks to `source`'s files.

    To damage or rename without touching them.
    """
    target.mkdir(parents=True)
    for item in source.iterdir():
        (target / item.name).symlink_to(item)
    return target


def real_copy(folder: Path, name: str) -> Path:
    """Replace one symlink with a writable copy of its file."""
    path = folder / name
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data)
    return path


@pytest.mark.parametrize('folder', sorted(MULTIPLIER_OF))
def test_every_published_set_loads_with_its_multiplier_and_shapes(models_path, folder):
    weights = load_weights(models_path / folder)
    assert weights.multiplier == MULTIPLIER_OF[folder]
    assert set(weights.tensors) == set(CANONICAL_NAMES)
    for name, shape in expected_shapes(weights.multiplier).items():
        assert weights[name].shape == shape, name
        assert weights[name].dtype == np.float32
        assert np.isfinite(weights[name]).all(), name
    assert weights.format == ('checkpoint' if folder.endswith('_weights') else 'graph-model')


def test_uint16_graph_model_dequantizes_to_the_float_checkpoint(models_path):
    """
    The uint16 graph model quant2 0.75 and the float32 0.75 checkpoint are the same network.

    Every dequantized value lies within half a quantization step (plus float32 rounding) of the
    float one.
    """
    quantized = load_weights(models_path / 'mobilenet_quant2_075')
    reference = load_weights(models_path / 'mobilenet_v1_075_weights')
    manifest_path = models_path / 'mobilenet_quant2_075' / 'model-stride16.json'
    manifest = json.loads(manifest_path.read_text())
    checked = 0
    for spec in manifest['weightsManifest'][0]['weights']:
        name = canonical_name(spec['name'])
        step = spec['quantization']['scale']
        error = np.abs(quantized[name].astype(np.float64) - reference[name]).max()
        assert error <= 0.51 * step, f'{name}: off by {error / step:.2f} quantization steps'
        checked += 1
    assert checked == len(CANONICAL_NAMES)


def test_stride8_and_stride16_json_hold_the_same_weights(models_path, tmp_path):
    folder = linked_copy(models_path / 'mobilenet_quant2_050', tmp_path / 'only8')
    (folder / 'model-stride16.json').unlink()
    from_8 = load_weights(folder)
    from_16 = load_weights(models_path / 'mobilenet_quant2_050' / 'model-stride16.json')
    for name in CANONICAL_NAMES:
        np.testing.assert_array_equal(from_8[name], from_16[name])


def test_101_is_told_from_100_by_folder_name_or_argument(models_path, tmp_path):
    source = models_path / 'mobilenet_quant1_100'
    assert load_weights(source).multiplier == 1.0
    assert load_weights(source, multiplier=1.01).multiplier == 1.01
    assert load_weights(linked_copy(source, tmp_path / 'mobilenet_v1_101')).multiplier == 1.01
    with pytest.raises(WeightsError,
                       match='MobileNetV1 1.00 weights.*not the requested multiplier 0.75'):
        load_weights(source, multiplier=0.75)
    with pytest.raises(WeightsError, match='multiplier must be one of'):
        load_weights(source, multiplier=0.6)


def test_truncated_shard_names_the_file_and_the_byte_counts(models_path, tmp_path):
    folder = linked_copy(models_path / 'mobilenet_quant2_050', tmp_path / 'm')
    shard = real_copy(folder, 'group1-shard1of1.bin')
    shard.write_bytes(shard.read_bytes()[:-10])
    with pytest.raises(WeightsError,
                       match=r'group1-shard1of1\.bin: \d+ bytes, but model-stride16\.json '
                             r'describes \d+ bytes'):
        load_weights(folder)


def test_missing_shard_is_named(models_path, tmp_path):
    folder = linked_copy(models_path / 'mobilenet_float_050', tmp_path / 'm')
    (folder / 'group1-shard1of1.bin').unlink()
    with pytest.raises(WeightsError, match=r'weight shard .*group1-shard1of1\.bin is missing'):
        load_weights(folder)


def test_missing_tensor_is_named(models_path, tmp_path):
    folder = linked_copy(models_path / 'mobilenet_float_050', tmp_path / 'm')
    path = real_copy(folder, 'model-stride16.json')
    document = json.loads(path.read_text())
    for spec in document['weightsManifest'][0]['weights']:
        if spec['name'] == 'MobilenetV1/Conv2d_3_pointwise/weights':
            spec['name'] = 'MobilenetV1/Conv2d_3_pointwise/renamed'
    path.write_text(json.dumps(document))
    with pytest.raises(WeightsError, match=r'model-stride16\.json lacks PoseNet tensor\(s\) '
                                           r'Conv2d_3_pointwise/weights'):
        load_weights(folder)


def test_checkpoint_shape_mismatch_and_wrong_size_are_named(models_path, tmp_path):
    folder = linked_copy(models_path / 'mobilenet_v1_075_weights', tmp_path / 'm')
    manifest = real_copy(folder, 'manifest.json')
    document = json.loads(manifest.read_text())
    document['MobilenetV1/Conv2d_0/weights']['shape'] = [3, 3, 24, 3]  # same byte count
    manifest.write_text(json.dumps(document))
    with pytest.raises(WeightsError, match=r'Conv2d_0/weights has shape \[3, 3, 24, 3\]'):
        load_weights(folder)

    document['MobilenetV1/Conv2d_0/weights']['shape'] = [3, 3, 3, 24]
    manifest.write_text(json.dumps(document))
    data = real_copy(folder, 'MobilenetV1_Conv2d_5_pointwise_weights')
    data.write_bytes(data.read_bytes() + b'\0\0\0\0')
    with pytest.raises(WeightsError,
                       match=r'MobilenetV1_Conv2d_5_pointwise_weights: 147460 bytes, '
                             r'but manifest\.json gives shape \[1, 1, 192, 192\]'):
        load_weights(folder)


def test_not_a_weights_folder_or_file(tmp_path):
    with pytest.raises(WeightsError, match='does not exist'):
        load_weights(tmp_path / 'nowhere')
    with pytest.raises(WeightsError, match='holds no PoseNet weights'):
        load_weights(tmp_path)
    broken = tmp_path / 'model-stride16.json'
    broken.write_text('{"weightsManifest": [')
    with pytest.raises(WeightsError, match='is not valid JSON'):
        load_weights(tmp_path)


def test_manifest_cannot_point_outside_its_folder(models_path, tmp_path):
    folder = linked_copy(models_path / 'mobilenet_float_050', tmp_path / 'm')
    path = real_copy(folder, 'model-stride16.json')
    document = json.loads(path.read_text())
    document['weightsManifest'][0]['paths'] = ['../../etc/passwd']
    path.write_text(json.dumps(document))
    with pytest.raises(WeightsError, match='invalid weight file'):
        load_weights(folder)


def test_other_multiplier_shapes_are_refused(models_path, tmp_path):
    """A set whose first conv says 0.50 but whose later layers say otherwise is not loaded."""
    folder = tmp_path / 'mixed'
    shutil.copytree(models_path / 'mobilenet_v1_075_weights', folder)
    manifest = folder / 'manifest.json'
    document = json.loads(manifest.read_text())
    document['MobilenetV1/Conv2d_0/weights']['shape'] = [3, 3, 3, 16]
    document['MobilenetV1/Conv2d_0/biases']['shape'] = [16]
    manifest.write_text(json.dumps(document))
    (folder / 'MobilenetV1_Conv2d_0_weights').write_bytes(bytes(4 * 3 * 3 * 3 * 16))
    (folder / 'MobilenetV1_Conv2d_0_biases').write_bytes(bytes(4 * 16))
    with pytest.raises(WeightsError, match=r'expected \[3, 3, 16, 1\] for MobileNetV1 0.50'):
        load_weights(folder)
