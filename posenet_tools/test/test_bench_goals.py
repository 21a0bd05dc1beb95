"""posenet_bench's speed goals on hand-built rows: a goal is met only where all was measured."""
from __future__ import annotations

from posenet_tools.bench.goals import int8_network_goal, ros_goals


def _row(resolution: int, precision: str = 'float32', mode: str = 'multi', **fields) -> dict:
    """Return a row of the report as run.py makes it, at 0.75 stride 16 on tflite."""
    return {'model': 'mobilenet_quant2_075', 'multiplier': 0.75, 'stride': 16,
            'height': resolution, 'width': resolution, 'resolution': f'{resolution}x{resolution}',
            'mode': mode, 'backend': 'tflite', 'precision': precision, 'error': None,
            'primary': True, **fields}


def _timed(resolution: int, speedup: float, precision: str = 'float32') -> dict:
    """Return a row timed through ROS and against the original."""
    return _row(resolution, precision, ros={'median': 10.0}, original={'median': 10.0 * speedup},
                speedup_ros=speedup)


def _goals(rows: list[dict]) -> dict:
    return {(goal['goal'], goal['precision']): goal for goal in ros_goals(rows)}


def test_a_configuration_not_measured_through_ros_keeps_the_goal_from_being_met():
    rows = [_timed(257, 9.0), _timed(353, 6.0),
            _row(641, error='ValueError: no such size', original={'median': 80.0}),
            _row(449, ros={'median': None, 'error': 'no frame answered (12 lost)'},
                 original={'median': 50.0})]
    goal = _goals(rows)[('ros_everywhere', 'float32')]
    assert goal['met'] is None and goal['value'] == 6.0
    assert goal['configurations'] == 4 and goal['unmeasured'] == 2
    assert 'not known' in goal['text'] and 'met:' not in goal['text']
    assert '2 of 4 configurations at 5x or more' in goal['text']
    assert '2 of 4 configurations not measured' in goal['text']
    assert '0.75 449x449 s16 multi: no frame answered (12 lost)' in goal['text']


def test_a_measured_miss_is_not_met_whatever_was_not_measured():
    rows = [_timed(257, 4.0), _row(353, ros={'median': None, 'error': 'node died'},
                                   original={'median': 40.0, 'error': None})]
    goal = _goals(rows)[('ros_everywhere', 'float32')]
    assert goal['met'] is False and 'NOT met' in goal['text']
    assert '1 of 2 configurations not measured (0.75 353x353 s16 multi: node died)' in \
        goal['text']


def test_a_precision_never_timed_through_ros_is_reported_not_measured():
    rows = [_timed(257, 9.0),
            _row(257, 'int8', ros={'median': None, 'error': 'RosBenchError: node exited'},
                 original={'median': 90.0})]
    goals = _goals(rows)
    assert goals[('ros_everywhere', 'float32')]['met'] is True
    for name in ('ros_key', 'ros_everywhere'):
        assert goals[(name, 'int8')]['met'] is None
        assert 'not measured' in goals[(name, 'int8')]['text']
    assert 'RosBenchError: node exited' in goals[('ros_everywhere', 'int8')]['text']


def test_the_key_configuration_failing_is_not_measured_not_dropped():
    key = _row(353, mode='multi', error='RosBenchError: node exited', original={'median': 90.0})
    key.update(height=353, width=481, resolution='353x481')
    goal = _goals([_timed(257, 9.0), key])[('ros_key', 'float32')]
    assert goal['met'] is None and goal['configurations'] == 1
    assert 'not measured (0 of 1 configurations measured: 0.75 353x481 s16 multi' in \
        goal['text']


def test_every_configuration_measured_is_met_as_before():
    goal = _goals([_timed(257, 9.0), _timed(353, 6.0)])[('ros_everywhere', 'float32')]
    assert goal['met'] is True and goal['unmeasured'] == 0
    assert '2 of 2 configurations at 5x or more' in goal['text']


def test_int8_rows_not_timed_keep_the_network_goal_from_being_met():
    rows = [_row(257, stages={'inference': {'median': 10.0}}),
            _row(353, stages={'inference': {'median': 20.0}}),
            _row(257, 'int8', int8_network_speedup=2.5),
            _row(353, 'int8', error='RuntimeError: int8 calibration failed')]
    goal = int8_network_goal(rows)
    assert goal['met'] is None and goal['value'] == 2.5
    assert '1 of 2 configurations not measured' in goal['text']
    assert 'int8 calibration failed' in goal['text']
    rows[1]['error'] = 'ValueError: float32 failed'
    rows[3] = _row(353, 'int8', stages={'inference': {'median': 5.0}})
    assert 'float32: ValueError: float32 failed' in int8_network_goal(rows)['text']
