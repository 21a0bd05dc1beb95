"""posenet_bench and the runner of the original it times (figures are printed, not asserted)."""
from __future__ import annotations

import json

import numpy as np
from posenet_ros.engine.resolution import parse_resolution
from posenet_tools.bench import cli as bench
from posenet_tools.tfjs_reference import patch_dilations
import pytest


def test_resolution_parsing():
    assert parse_resolution('257') == (257, 257)
    assert parse_resolution('353x481') == (353, 481)
    for bad in ('', 'x', '353x', '0', '-5', '3x4x5', 'abc'):
        with pytest.raises(ValueError, match='resolution must be'):
            parse_resolution(bad)


def _depthwise_dilations(graph):
    return [[int(v) for v in node['attr']['dilations']['list']['i']]
            for node in graph['modelTopology']['node'] if node['op'] == 'DepthwiseConv2dNative']


def test_stride8_dilations_are_rewritten_to_nhwc(models_path):
    graph = json.loads((models_path / 'mobilenet_quant2_075' / 'model-stride8.json').read_text())
    shipped = _depthwise_dilations(graph)
    assert any(d[0] > 1 for d in shipped)  # stored as [r, r, 1, 1]
    rewritten = patch_dilations(graph)
    assert rewritten == sum(d[0] > 1 for d in shipped)
    patched = _depthwise_dilations(graph)
    assert all(d[0] == 1 and d[3] == 1 for d in patched)
    assert [d[1] for d in patched] == [d[0] for d in shipped]
    graph16_path = models_path / 'mobilenet_quant2_075' / 'model-stride16.json'
    graph16 = json.loads(graph16_path.read_text())
    assert patch_dilations(graph16) == 0


def test_original_runner_reproduces_the_stored_reference(tfjs_runner, models_path, data_path,
                                                         reference_path):
    photos = sorted((data_path / 'smoke').glob('*.jpg'))[:2]
    assert len(photos) == 2, f'expected at least 2 smoke photos in {data_path / "smoke"}'
    run = tfjs_runner.run(models_path / 'mobilenet_quant2_075', photos, stride=8,
                          resolution='257', mode='single', repeat=2)
    assert run.config['model'] == 'mobilenet_quant2_075' and run.config['stride'] == 8
    assert len(run.times_ms) == 2 * len(photos)  # warm-up runs dropped
    stored = json.loads(
        (reference_path / 'smoke' / 'mobilenet_quant2_075_s8_r257_single.json').read_text())
    by_id = {r['id']: r for r in stored['results']}
    assert sorted(str(result['id']) for result in run.results) == [p.stem for p in photos]
    for result in run.results:
        expected = by_id[result['id']]['poses'][0]
        got = result['poses'][0]
        assert got['score'] == pytest.approx(expected['score'], abs=1e-6)
        assert np.allclose([[k['x'], k['y']] for k in got['keypoints']],
                           [[k['x'], k['y']] for k in expected['keypoints']], atol=1e-4)


def test_quick_bench_prints_a_table_and_writes_reports(tmp_path, capsys, data_path, shared_models):
    out = tmp_path / 'bench' / 'quick'
    code = bench.main(['--quick', '--out', str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    for mode in ('single', 'multi'):
        row = next(line for line in printed.splitlines()
                   if line.startswith(f'mobilenet_quant2_075 s16 r257 {mode}'))
        assert 'n/a' not in row
    report = json.loads(out.with_name('quick.json').read_text())
    assert [r['mode'] for r in report['rows']] == ['single', 'multi']
    for row in report['rows']:
        assert row['error'] is None
        assert row['stages']['estimate']['n'] == report['meta']['samples_per_config']
        assert row['stages']['estimate']['median'] <= row['stages']['estimate']['p90']
        for stage in ('inference', 'decode', 'pipeline'):
            assert row['stages'][stage]['median'] > 0
    markdown = out.with_name('quick.md').read_text()
    assert markdown.count('| mobilenet_quant2_075 | 16 | 257 |') == 2
    assert out.with_name('quick_speed.png').stat().st_size > 0


def test_bench_times_the_original_beside_ours(tfjs_runner, capsys, data_path, shared_models):
    code = bench.main(['--quick', '--original', '--modes', 'single', '--repeat', '1'])
    printed = capsys.readouterr().out
    assert code == 0
    row = next(line for line in printed.splitlines()
               if line.startswith('mobilenet_quant2_075 s16 r257 single'))
    assert row.rstrip().endswith('x')  # the speed ratio column is filled


def test_bad_arguments_get_a_clear_message(capsys, tmp_path):
    assert bench.main(['--quick', '--resolutions', '257x']) == 2
    assert 'resolution must be' in capsys.readouterr().err
    assert bench.main(['--quick', '--images', str(tmp_path / 'none.jpg')]) == 2
    assert 'photos not found' in capsys.readouterr().err


@pytest.mark.parametrize('option', ['--ros-repeat', '--original-repeat'])
@pytest.mark.parametrize('value', ['0', '-1'])
def test_repeat_counts_below_one_are_refused(option, value, capsys):
    """0 used to mean --repeat and -1 to time nothing, both silently."""
    with pytest.raises(SystemExit) as refused:
        bench.parse_arguments(['--quick', option, value])
    assert refused.value.code == 2
    assert f'{option}: must be at least 1, got {value}' in capsys.readouterr().err
    assert getattr(bench.parse_arguments(['--quick']), option[2:].replace('-', '_')) is None


def test_a_model_folder_named_without_its_width(tmp_path, capsys, data_path, shared_models):
    """The width comes from the weights: the report's labels and the goals' need it."""
    folder = tmp_path / 'my_posenet'
    folder.symlink_to(shared_models / 'mobilenet_quant2_075', target_is_directory=True)
    out = tmp_path / 'named'
    assert bench.main(['--quick', '--models', str(folder), '--modes', 'single', '--repeat', '1',
                       '--out', str(out), '--no-plots']) == 0
    capsys.readouterr()
    report = json.loads(out.with_name('named.json').read_text())
    assert [row['multiplier'] for row in report['rows']] == [0.75]
    assert '| 0.75 257 s16 single | float32 |' in out.with_name('named.md').read_text()


@pytest.mark.dds
def test_bench_through_ros_and_at_camera_rate(shared_models, data_path, tmp_path, capsys):
    """posenet_node in its own process, frames and PoseArrays over DDS (real rclpy, no mocks)."""
    pytest.importorskip('rclpy', reason='rclpy not installed')
    pytest.importorskip('posenet_msgs.msg', reason='posenet_msgs not built/sourced')
    out = tmp_path / 'ros'
    # Reliable image delivery: large best-effort frames need FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA
    # with Fast DDS, which this test does not assume.
    code = bench.main(['--quick', '--modes', 'single', '--ros', '--ros-repeat', '1',
                       '--precisions', 'float32,int8',
                       '--camera-rates', '30', '--camera-seconds', '2',
                       '--camera-config', 'mobilenet_quant2_075:16:257:single',
                       '--image-reliability', 'reliable', '--out', str(out), '--no-plots'])
    printed = capsys.readouterr().out
    assert code == 0
    report = json.loads(out.with_name('ros.json').read_text())
    for row in report['rows']:
        assert row['ros']['n'] == len(report['meta']['photos']) and row['ros']['lost'] == 0
        # The consumer also timed reading the PoseArrays as rclpy messages, for every frame.
        assert row['ros_messages']['n'] == row['ros']['n']
    # A camera-rate run per precision, the int8 node on the run's calibration.
    assert [camera['precision'] for camera in report['cameras']] == ['float32', 'int8']
    for camera in report['cameras']:
        assert 'error' not in camera, camera.get('error')
        # int8 on the tflite path, not the node's default (float32 on a GPU)
        assert f"({camera['precision']})" in camera['configured']
        assert camera['backend'] == ('tflite' if camera['precision'] == 'int8' else 'default')
        run = camera['runs'][0]
        assert run['rate_hz'] == 30 and 0 < run['processed'] <= run['published']
        assert run['dropped'] == run['published'] - run['processed']
        assert run['rss_start_mib'] > 0 and run['rss_end_mib'] > 0
    assert '30 Hz: age p50' in printed
    markdown = out.with_name('ros.md').read_text()
    assert '## Under a camera rate, float32' in markdown
    assert '## Under a camera rate, int8' in markdown
