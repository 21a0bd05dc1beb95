"""
posenet_int8_study --per-layer and --input-types, what two of docs/int8.md's tables are made of.

--per-layer: the graph cut after each layer, timed in float32 and in int8. --input-types: the
chosen int8 model's network stage with the converter's float32 input and with uint8. No time is
asserted (the machine is shared): the cuts are, one after each layer of the plan, and that the
last one holds the whole backbone (its int8 model as large as the backbone's int8 weights); and
that each model is fed what it takes.
"""
from __future__ import annotations

from posenet_ros.engine.image_io import load_image_rgb
from posenet_tools.int8_study import input_types_ms, per_layer_ms


def test_per_layer_times_a_float32_and_an_int8_cut_after_each_layer(
        models_path, data_path, monkeypatch):
    monkeypatch.setenv('POSENET_MODELS', str(models_path))
    photos = [load_image_rgb(path) for path in sorted((data_path / 'smoke').glob('*.jpg'))[:2]]
    rows = per_layer_ms('mobilenet_quant2_050', 129, 129, 16, 2, photos)
    assert [row['layer'] for row in rows] == (
        ['input', 'Conv2d_0'] + [f'block {block}' for block in range(1, 14)])
    assert all(row['float32_ms'] > 0 and row['int8_ms'] > 0 for row in rows)
    assert rows[-1]['int8_bytes'] < rows[-1]['float32_bytes'] / 3  # int8 weights, float ones


def test_input_types_times_the_int8_model_both_ways_beside_float32(
        models_path, data_path, monkeypatch, tmp_path):
    monkeypatch.setenv('POSENET_MODELS', str(models_path))
    monkeypatch.setenv('POSENET_CACHE', str(tmp_path / 'cache'))
    photos = [load_image_rgb(path) for path in sorted((data_path / 'smoke').glob('*.jpg'))[:2]]
    times = input_types_ms('mobilenet_quant2_050', 129, 129, 16, 2, photos)
    assert list(times) == ['float32', 'int8, float32 input', 'int8, uint8 input']
    assert all(ms > 0 for ms in times.values())
