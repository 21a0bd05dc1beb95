"""
The speed goals of issue #11 checked on a run's rows, within that run.

int8's network (the `inference` stage) against float32's on the same configuration and path;
ours through ROS (posenet_node, publish to PoseArray) against the original timed in the same
run, at the configuration the goal names and at every configuration, per precision.
"""
from __future__ import annotations

from posenet_tools.bench.grid import case_of, stage_median

INT8_NETWORK_GOAL = 2.0   # int8's network at least this many times as fast as float32's
ROS_KEY_GOAL = 8.0        # through ROS, this many times as fast as the original at KEY_CONFIG
ROS_GOAL = 5.0            # through ROS, this many times as fast at every configuration
KEY_CONFIG = {'multiplier': 0.75, 'stride': 16, 'height': 353, 'width': 481, 'mode': 'multi'}
KEY_LABEL = '0.75 353x481 s16 multi'


def config_label(row: dict) -> str:
    """Return e.g. '0.75 353x481 s16 multi'."""
    return f"{row['multiplier']:.2f} {row['resolution']} s{row['stride']} {row['mode']}"


def add_int8_network_ratios(rows: list[dict]) -> None:
    """Give each int8 row float32's network median over its own (same case and backend)."""
    float32 = {(case_of(row), row['backend']): row for row in rows
               if row.get('precision', 'float32') == 'float32' and not row.get('error')}
    for row in rows:
        if row.get('precision') != 'int8' or row.get('error'):
            continue
        ours = stage_median(row, 'inference')
        theirs = stage_median(float32.get((case_of(row), row['backend'])), 'inference')
        if ours and theirs:
            row['int8_network_speedup'] = theirs / ours


def check_goals(rows: list[dict]) -> list[dict]:
    """Return one entry per goal (and per precision for the ROS goals): met, value, text."""
    return [int8_network_goal(rows)] + ros_goals(rows)


def _ratio(value: float, target: float) -> str:
    """Return e.g. '4.3x'; two decimals where one would round up to the target (4.97x)."""
    return f'{value:.2f}x' if value < target <= round(value, 1) else f'{value:.1f}x'


def _goal(goal: str, target: float, values: list[tuple[float, str]], what: str,
          missing: str, precision: str | None = None) -> dict:
    """Judge the lowest of `values` ((ratio, configuration) pairs) against `target`."""
    entry = {'goal': goal, 'precision': precision, 'target': target}
    if not values:
        return {**entry, 'met': None, 'value': None,
                'text': f'{what}: not measured ({missing})'}
    lowest, where = min(values)
    highest = max(value for value, _ in values)
    reached = sum(value >= target for value, _ in values)
    met = lowest >= target
    if len(values) == 1:
        detail = _ratio(lowest, target)
    else:
        detail = (f'{_ratio(lowest, target)}-{highest:.1f}x, lowest at {where}; {reached} of '
                  f'{len(values)} configurations at {target:g}x or more')
    return {**entry, 'met': met, 'value': lowest, 'where': where, 'highest': highest,
            'reached': reached, 'configurations': len(values),
            'text': f"{what}: {'met' if met else 'NOT met'}: {detail}"}


def int8_network_goal(rows: list[dict]) -> dict:
    """int8's network at least 2x float32's, at every configuration timed at both."""
    values = [(row['int8_network_speedup'], config_label(row)) for row in rows
              if row.get('int8_network_speedup')]
    return _goal('int8_network', INT8_NETWORK_GOAL, values,
                 f'int8 network >= {INT8_NETWORK_GOAL:g}x float32 (inference stage, tflite)',
                 'needs --precisions float32,int8')


def is_key_config(row: dict) -> bool:
    return all(row.get(name) == value for name, value in KEY_CONFIG.items())


def ros_goals(rows: list[dict]) -> list[dict]:
    """Through ROS >= 8x the original at KEY_CONFIG and >= 5x everywhere, per precision."""
    timed = [row for row in rows if row.get('speedup_ros')]
    precisions = list(dict.fromkeys(row['precision'] for row in timed)) or [None]
    goals = []
    for precision in precisions:
        mine = [row for row in timed if row['precision'] == precision]
        suffix = f' [{precision}]' if precision else ''
        goals.append(_goal(
            'ros_key', ROS_KEY_GOAL,
            [(row['speedup_ros'], config_label(row)) for row in mine if is_key_config(row)],
            f'through ROS >= {ROS_KEY_GOAL:g}x the original at {KEY_LABEL}{suffix}',
            f'needs --ros and --original at {KEY_LABEL}', precision))
        goals.append(_goal(
            'ros_everywhere', ROS_GOAL,
            [(row['speedup_ros'], config_label(row)) for row in mine],
            f'through ROS >= {ROS_GOAL:g}x the original at every configuration{suffix}',
            'needs --ros and --original', precision))
    return goals


def goal_lines(goals: list[dict]) -> list[str]:
    """Return the goals as Markdown list items."""
    return [f"- {goal['text']}" for goal in goals]
