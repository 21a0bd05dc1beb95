"""
The speed goals of issue #11 checked on a run's rows, within that run.

int8's network (the `inference` stage) against float32's on the same configuration and path;
ours through ROS (posenet_node, publish to PoseArray) against the original timed in the same
run, at the configuration the goal names and at every configuration, per precision. A goal
is met only when every configuration it covers was measured: one that failed or was not timed
is counted and named, and the goal is then NOT met or not known, never met.
"""
from __future__ import annotations

from posenet_tools.bench.grid import case_of, stage_median

INT8_NETWORK_GOAL = 2.0   # int8's network at least this many times as fast as float32's
ROS_KEY_GOAL = 8.0        # through ROS, this many times as fast as the original at KEY_CONFIG
ROS_GOAL = 5.0            # through ROS, this many times as fast at every configuration
KEY_CONFIG = {'multiplier': 0.75, 'stride': 16, 'height': 353, 'width': 481, 'mode': 'multi'}
KEY_LABEL = '0.75 353x481 s16 multi'


def config_label(row: dict) -> str:
    """Return e.g. '0.75 353x481 s16 multi' (the model's name where its width is unknown)."""
    width = row.get('multiplier')
    width = f'{width:.2f}' if width is not None else row['model']
    return f"{width} {row['resolution']} s{row['stride']} {row['mode']}"


def _float32_rows(rows: list[dict]) -> dict:
    """Return the float32 rows by (case, backend): what each int8 row is compared with."""
    return {(case_of(row), row['backend']): row for row in rows
            if row.get('precision', 'float32') == 'float32'}


def add_int8_network_ratios(rows: list[dict]) -> None:
    """Give each int8 row float32's network median over its own (same case and backend)."""
    float32 = _float32_rows(rows)
    for row in rows:
        if row.get('precision') != 'int8' or row.get('error'):
            continue
        theirs = float32.get((case_of(row), row['backend']))
        if theirs is None or theirs.get('error'):
            continue
        ours = stage_median(row, 'inference')
        theirs = stage_median(theirs, 'inference')
        if ours and theirs:
            row['int8_network_speedup'] = theirs / ours


def check_goals(rows: list[dict]) -> list[dict]:
    """Return one entry per goal (and per precision for the ROS goals): met, value, text."""
    return [int8_network_goal(rows)] + ros_goals(rows)


def _ratio(value: float, target: float) -> str:
    """Return e.g. '4.3x'; two decimals where one would round up to the target (4.97x)."""
    return f'{value:.2f}x' if value < target <= round(value, 1) else f'{value:.1f}x'


def _not_measured(unmeasured: list[tuple[str, str]]) -> str:
    """Return e.g. '0.75 257x257 s16 multi: no frame answered; ...' (the first three)."""
    shown = '; '.join(f'{where}: {why}' for where, why in unmeasured[:3])
    return shown + ('; ...' if len(unmeasured) > 3 else '')


def _goal(goal: str, target: float, values: list[tuple[float, str]],
          unmeasured: list[tuple[str, str]], what: str, missing: str,
          precision: str | None = None) -> dict:
    """
    Judge the lowest of `values` ((ratio, configuration) pairs) against `target`.

    `unmeasured` ((configuration, why) pairs) are the configurations the goal covers that have
    no ratio: the goal is then not met (met False) if a measured one misses the target, else
    unknown (met None), never met.
    """
    entry = {'goal': goal, 'precision': precision, 'target': target}
    expected = len(values) + len(unmeasured)
    if not values:
        why = (f'0 of {expected} configurations measured: {_not_measured(unmeasured)}'
               if unmeasured else missing)
        return {**entry, 'met': None, 'value': None, 'configurations': expected,
                'unmeasured': len(unmeasured), 'text': f'{what}: not measured ({why})'}
    lowest, where = min(values)
    highest = max(value for value, _ in values)
    reached = sum(value >= target for value, _ in values)
    met = False if lowest < target else (None if unmeasured else True)
    if expected == 1:
        detail = _ratio(lowest, target)
    else:
        spread = (f'{_ratio(lowest, target)} at {where}' if len(values) == 1 else
                  f'{_ratio(lowest, target)}-{highest:.1f}x, lowest at {where}')
        detail = f'{spread}; {reached} of {expected} configurations at {target:g}x or more'
    if unmeasured:
        detail += (f'; {len(unmeasured)} of {expected} configurations not measured '
                   f'({_not_measured(unmeasured)})')
    verdict = {True: 'met', False: 'NOT met', None: 'not known, not measured everywhere'}[met]
    return {**entry, 'met': met, 'value': lowest, 'where': where, 'highest': highest,
            'reached': reached, 'configurations': expected, 'unmeasured': len(unmeasured),
            'text': f'{what}: {verdict}: {detail}'}


def int8_network_goal(rows: list[dict]) -> dict:
    """int8's network at least 2x float32's, at every configuration int8 was to be timed at."""
    float32 = _float32_rows(rows)
    int8 = [row for row in rows if row.get('precision') == 'int8']
    values, unmeasured = [], []
    for row in int8 if float32 else []:
        if row.get('int8_network_speedup'):
            values.append((row['int8_network_speedup'], config_label(row)))
            continue
        theirs = float32.get((case_of(row), row['backend']))
        if row.get('error'):
            why = row['error']
        elif theirs is None:
            why = f"no float32 row on the {row['backend']} path"
        else:
            why = f"float32: {theirs['error']}" if theirs.get('error') else 'not timed'
        unmeasured.append((config_label(row), why))
    return _goal('int8_network', INT8_NETWORK_GOAL, values, unmeasured,
                 f'int8 network >= {INT8_NETWORK_GOAL:g}x float32 (inference stage, tflite)',
                 'needs --precisions float32,int8')


def is_key_config(row: dict) -> bool:
    return all(row.get(name) == value for name, value in KEY_CONFIG.items())


def _why_no_ros_ratio(row: dict) -> str:
    """Return why a row has no through-ROS speed-up: its error, the node's, the original's."""
    return (row.get('error') or (row.get('ros') or {}).get('error')
            or (row.get('original') or {}).get('error') or 'not timed')


def _ros_split(rows: list[dict]) -> tuple[list, list]:
    """Return the rows' (speed-up, configuration) pairs and (configuration, why) of the rest."""
    values = [(row['speedup_ros'], config_label(row)) for row in rows if row.get('speedup_ros')]
    unmeasured = [(config_label(row), _why_no_ros_ratio(row)) for row in rows
                  if not row.get('speedup_ros')]
    return values, unmeasured


def ros_goals(rows: list[dict]) -> list[dict]:
    """
    Through ROS >= 8x the original at KEY_CONFIG and >= 5x everywhere, per precision.

    Once a run timed through ROS and the original, every row of the node's paths is one the
    goals cover, timed or not (an error row, a node that failed, the original failing).
    """
    tried = any('ros' in row for row in rows) and any('original' in row for row in rows)
    node_rows = [row for row in rows if row.get('primary', True)] if tried else []
    precisions = list(dict.fromkeys(row.get('precision', 'float32') for row in node_rows))
    goals = []
    for precision in precisions or [None]:
        mine = [row for row in node_rows if row.get('precision', 'float32') == precision]
        suffix = f' [{precision}]' if precision else ''
        goals.append(_goal(
            'ros_key', ROS_KEY_GOAL, *_ros_split([row for row in mine if is_key_config(row)]),
            f'through ROS >= {ROS_KEY_GOAL:g}x the original at {KEY_LABEL}{suffix}',
            f'needs --ros and --original at {KEY_LABEL}', precision))
        goals.append(_goal(
            'ros_everywhere', ROS_GOAL, *_ros_split(mine),
            f'through ROS >= {ROS_GOAL:g}x the original at every configuration{suffix}',
            'needs --ros and --original', precision))
    return goals


def goal_lines(goals: list[dict]) -> list[str]:
    """Return the goals as Markdown list items."""
    return [f"- {goal['text']}" for goal in goals]
