"""posenet_bench's precision axis: float32 and int8, and the goals checked on real runs."""
from __future__ import annotations

import json

from posenet_tools.bench import cli as bench
from posenet_tools.bench.goals import (config_label, INT8_NETWORK_GOAL, is_key_config, ROS_GOAL,
                                       ROS_KEY_GOAL)
from posenet_tools.bench.precision import bench_paths, BenchPath
from posenet_tools.shared_data import coco_calibration_photos
import pytest


def test_full_runs_time_both_precisions_and_quick_runs_float32_only(data_path):
    assert bench.parse_arguments([]).precisions == ['float32', 'int8']
    assert bench.parse_arguments(['--quick']).precisions == ['float32']
    assert bench.parse_arguments(['--quick', '--precisions', 'int8, float32']).precisions == [
        'int8', 'float32']


def test_int8_runs_on_tflite_once_and_float32_on_every_path():
    assert bench_paths(['tflite', 'function'], ['float32', 'int8']) == [
        BenchPath('tflite', 'float32', True), BenchPath('function', 'float32', False),
        BenchPath('tflite', 'int8', True)]
    assert bench_paths([None], ['int8']) == [BenchPath('tflite', 'int8', True)]
    with pytest.raises(ValueError, match='tflite path only'):
        bench_paths(['function'], ['int8'])
    with pytest.raises(ValueError, match='precisions must be among'):
        bench_paths(['tflite'], ['float16'])


def test_bad_precision_options_get_a_clear_message(capsys, tmp_path, data_path):
    assert bench.main(['--quick', '--precisions', 'float16']) == 2
    assert 'precisions must be among float32, int8' in capsys.readouterr().err
    assert bench.main(['--quick', '--backends', 'function', '--precisions', 'int8']) == 2
    assert 'tflite path only' in capsys.readouterr().err
    model = tmp_path / 'int8.tflite'
    model.write_bytes(b'')
    assert bench.main(['--quick', '--precisions', 'int8', '--int8-calibration', str(model)]) == 2
    assert 'not one .tflite model' in capsys.readouterr().err


def test_int8_is_never_calibrated_on_a_photo_ap_is_scored_on(data_path):
    val = {image['file_name'] for image in json.loads(
        (data_path / 'coco_kpts' / 'annotations_val2017.json').read_text())['images']}
    photos = coco_calibration_photos()
    assert len(photos) >= 48 and all(photo.is_file() for photo in photos)
    assert not val & {photo.name for photo in photos}


def test_int8_without_calibration_photos_says_so_and_leaves_no_folder(
        tmp_path, monkeypatch, capsys, data_path, shared_models):
    """No annotations: exit 2 with the way out, not a traceback and a temporary folder left."""
    import tempfile
    monkeypatch.setenv('POSENET_SHARED', str(tmp_path / 'empty_shared'))
    monkeypatch.setattr(tempfile, 'tempdir', str(tmp_path / 'tmp'))
    (tmp_path / 'tmp').mkdir()
    photo = data_path / 'smoke' / 'bus.jpg'
    assert bench.main(['--quick', '--precisions', 'int8', '--images', str(photo)]) == 2
    err = capsys.readouterr().err
    assert 'no photos to calibrate int8 on (FileNotFoundError' in err
    assert '--int8-calibration' in err
    assert list((tmp_path / 'tmp').iterdir()) == []


def _rows_by_precision(report: dict) -> dict[str, dict]:
    return {row['precision']: row for row in report['rows']}


def test_both_precisions_timed_in_process_with_the_int8_goal(tmp_path, capsys, shared_models,
                                                             data_path):
    out = tmp_path / 'precision'
    code = bench.main(['--quick', '--modes', 'multi', '--precisions', 'float32,int8',
                       '--repeat', '1', '--out', str(out), '--no-plots'])
    printed = capsys.readouterr().out
    assert code == 0
    report = json.loads(out.with_name('precision.json').read_text())
    rows = _rows_by_precision(report)
    assert list(rows) == ['float32', 'int8'] and report['meta']['precisions'] == list(rows)
    assert all(row['error'] is None and row['backend'] == 'tflite' for row in rows.values())
    calibration = report['meta']['int8_calibration']
    assert calibration['frames'] == 48 and 'not val photos' in calibration['source']
    network = {p: row['stages']['inference']['median'] for p, row in rows.items()}
    ratio = network['float32'] / network['int8']
    assert rows['int8']['int8_network_speedup'] == pytest.approx(ratio)
    goal = report['goals'][0]
    assert goal['goal'] == 'int8_network' and goal['value'] == pytest.approx(ratio)
    assert goal['met'] == (ratio >= INT8_NETWORK_GOAL)
    assert goal['text'] in printed
    assert all(g['met'] is None and 'not measured' in g['text'] for g in report['goals'][1:])
    markdown = out.with_name('precision.md').read_text()
    assert f"- {goal['text']}" in markdown
    for precision, row in rows.items():
        pipeline = row['stages']['pipeline']['median']
        assert (f'| {config_label(row)} | {precision} | {network[precision]:.1f} | '
                f'{pipeline:.1f} |') in markdown


@pytest.mark.dds
def test_both_precisions_through_ros_against_the_original(tfjs_runner, shared_models, data_path,
                                                          tmp_path, capsys):
    """A node process per precision, at the configuration the 8x goal names; real DDS."""
    pytest.importorskip('rclpy', reason='rclpy not installed')
    pytest.importorskip('posenet_msgs.msg', reason='posenet_msgs not built/sourced')
    out = tmp_path / 'ros'
    code = bench.main(['--quick', '--modes', 'multi', '--resolutions', '353x481',
                       '--precisions', 'float32,int8', '--ros', '--original', '--repeat', '1',
                       '--ros-repeat', '1', '--original-repeat', '1', '--camera-rates', '',
                       '--image-reliability', 'reliable', '--out', str(out)])
    capsys.readouterr()
    assert code == 0
    report = json.loads(out.with_name('ros.json').read_text())
    rows = _rows_by_precision(report)
    nodes = {node['path']: node for node in report['meta']['ros_nodes']}
    assert '(float32)' in nodes['tflite float32']['configured']
    assert '(int8)' in nodes['tflite int8']['configured']
    assert nodes['tflite int8']['parameters']['precision'] == 'int8'
    goals = {(g['goal'], g['precision']): g for g in report['goals']}
    markdown = out.with_name('ros.md').read_text()
    for precision, row in rows.items():
        assert is_key_config(row) and row['ros']['n'] == len(report['meta']['photos'])
        speedup = row['original']['median'] / row['ros']['median']
        assert row['speedup_ros'] == pytest.approx(speedup)
        for name, target in (('ros_key', ROS_KEY_GOAL), ('ros_everywhere', ROS_GOAL)):
            goal = goals[(name, precision)]
            assert goal['value'] == pytest.approx(speedup)
            assert goal['met'] == (speedup >= target)
            assert f"- {goal['text']}" in markdown
    assert out.with_name('ros_ros_x.png').stat().st_size > 0


def test_cpu_budget_times_float32_and_int8_per_thread_count(capsys, shared_models, data_path):
    """posenet_bench_cpu: a row per input size, precision and thread count; bad input refused."""
    from posenet_tools.bench import cpu_budget
    photo = sorted((data_path / 'smoke').glob('*.jpg'))[0]
    assert cpu_budget.main(['--resolutions', '257', '--threads', '1,2', '--rounds', '1',
                            '--images', str(photo)]) == 0
    rows = [[cell.strip() for cell in line.strip('|').split('|')]
            for line in capsys.readouterr().out.splitlines() if line.startswith('| 257x257')]
    assert [(row[2], row[3]) for row in rows] == [
        ('float32', '1'), ('float32', '2'), ('int8', '1'), ('int8', '2')]
    assert all(float(row[4]) > 0 and float(row[5]) > 0 for row in rows)  # wall ms, CPU s
    with pytest.raises(SystemExit) as refused:
        cpu_budget.main(['--precisions', 'float16'])
    assert refused.value.code == 2
    assert '--precisions takes float32 and/or int8' in capsys.readouterr().err
