"""posenet_bench's rows, log lines, reports and plots on hand-built data (no timing)."""
from __future__ import annotations

from posenet_tools.bench.camera import camera_run_line, latency_line
from posenet_tools.bench.goals import config_label
from posenet_tools.bench.grid import BenchCase, make_row, stats
from posenet_tools.bench.plots import ros_speedup_bars
from posenet_tools.bench.precision import bench_paths, BenchPath
from posenet_tools.bench.report import precision_table, write_report
from posenet_tools.bench.ros_latency import record_latency
from posenet_tools.bench.run import camera_paths

CASE = BenchCase('mobilenet_quant2_075', 16, 257, 257, 'single')


def test_a_node_answering_no_frame_is_the_rows_error_not_a_crash():
    row = make_row(CASE, 'tflite', {'pipeline': [1.0]})
    logged = []
    record_latency(row, {'samples': [], 'lost': 12}, 'tflite float32', logged.append)
    assert row['ros']['median'] is None and row['ros']['lost'] == 12
    assert row['ros']['error'] == 'no frame answered (12 lost)'
    assert logged == ['mobilenet_quant2_075 s16 r257 single [tflite float32] through ROS: '
                      'no frame answered (12 lost)']
    record_latency(row, {'samples': [4.0, 6.0], 'lost': 0}, 'tflite float32', logged.append)
    assert row['ros']['median'] == 5.0 and 'error' not in row['ros']
    assert logged[-1].endswith('through ROS: median 5.0 ms, p90 5.8 ms')


def test_camera_lines_without_latency_or_memory_figures():
    latency = {**stats([]), 'error': 'no frame answered (20 lost)'}
    assert latency_line(latency, 'case', 'int8').endswith(': no frame answered (20 lost)')
    run = {'rate_hz': 30.0, 'duration_s': 2.0, 'age_p50_ms': 40.0, 'age_p99_ms': 90.0,
           'processed_per_s': 25.0, 'dropped': 10, 'published': 60, 'rss_start_mib': None,
           'rss_end_mib': None}
    assert camera_run_line(run, 'float32').endswith('10 of 60 dropped, RSS ? -> ? MiB')


def test_the_camera_runs_use_the_path_timed_through_ros_int8_on_tflite():
    """On a GPU the node's default path is float32-only: the int8 camera run names tflite."""
    paths = bench_paths([None, 'function'], ['float32', 'int8'])
    assert camera_paths(paths) == [BenchPath(None, 'float32', True),
                                   BenchPath('tflite', 'int8', True)]


def test_a_model_folder_without_its_width_in_the_name_takes_the_estimators():
    folder = BenchCase('/data/weights/my_posenet', 16, 257, 257, 'single')
    row = make_row(folder, 'tflite', {'pipeline': [1.0]}, multiplier=0.75)
    assert row['multiplier'] == 0.75 and config_label(row) == '0.75 257 s16 single'
    unknown = make_row(folder, 'default', None, error='ModelNotFoundError: none')
    assert unknown['multiplier'] is None
    assert config_label(unknown) == '/data/weights/my_posenet 257 s16 single'


def _report(rows: list[dict]) -> dict:
    meta = {'date': 'today', 'command': 'posenet_bench', 'machine': {'cores': 1},
            'samples_per_config': 1, 'photos': ['a.jpg'], 'repeat': 1,
            'ros_image_encoding': 'bgr8'}
    return {'meta': meta, 'rows': rows, 'goals': []}


def test_a_run_with_every_configuration_failed_lists_no_speed_plot(tmp_path):
    report = _report([make_row(CASE, 'tflite', None, error='ValueError: cannot')])
    written = write_report(report, tmp_path / 'run')
    assert [path.name for path in written] == ['run.json', 'run.md']
    assert not (tmp_path / 'run_speed.png').exists()
    timed = _report([make_row(CASE, 'tflite', {stage: [1.0] for stage in (
        'ros_image', 'preprocess', 'inference', 'decode', 'message', 'estimate', 'pipeline')})])
    assert (tmp_path / 'ok_speed.png') in write_report(timed, tmp_path / 'ok')
    assert '| 0.75 257 s16 single | float32 |' in precision_table(timed['rows'])[2]


def test_two_models_of_one_width_are_two_bars_through_ros():
    rows = [dict(make_row(BenchCase(model, 16, 353, 481, 'multi'), 'tflite', None),
                 speedup_ros=speedup)
            for model, speedup in (('mobilenet_float_050', 6.0), ('mobilenet_quant2_050', 7.0))]
    labels, values, keys = ros_speedup_bars(rows)
    assert labels == ['mobilenet_float_050 0.50 353x481 s16 multi',
                      'mobilenet_quant2_050 0.50 353x481 s16 multi']
    assert values == {'float32': [6.0, 7.0]} and keys == []
    rows.append(dict(make_row(BenchCase('mobilenet_quant2_075', 16, 353, 481, 'multi'), 'tflite',
                              None, precision='int8'), speedup_ros=9.0))
    labels, values, keys = ros_speedup_bars(rows)
    assert values == {'float32': [6.0, 7.0, 0.0], 'int8': [0.0, 0.0, 9.0]} and keys == [2]
