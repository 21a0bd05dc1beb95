"""
One posenet_bench run.

Every configuration on every inference path and precision in process, through posenet_node
on the node's paths (a node per precision), and the original, one configuration at a time;
then the camera-rate runs, one per precision, and the goals checked.
"""
from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
import datetime
import gc
from pathlib import Path
import shlex
import sys
from typing import Callable

from posenet_ros.engine.image_io import load_image_rgb
from posenet_tools.bench.accuracy import case_accuracy
from posenet_tools.bench.camera import camera_rate_run
from posenet_tools.bench.goals import add_int8_network_ratios, check_goals
from posenet_tools.bench.grid import (BenchCase, BenchOptions, case_of, error_reason, make_row,
                                      MULTI_SETTINGS, RosStages, stage_median, STAGE_TITLES,
                                      STAGES, time_passes, warm_up)
from posenet_tools.bench.machine import load_average, machine_info
from posenet_tools.bench.original import node_version, time_and_log_original
from posenet_tools.bench.precision import (BenchPath, calibrate, Int8Calibration,
                                           make_path_estimator)
from posenet_tools.bench.ros_latency import dds_description, NodeTimer
from posenet_tools.tfjs_reference import TfjsReference


@dataclass
class _RunState:
    """What every configuration of one run shares."""

    options: BenchOptions
    log: Callable[[str], object]
    photo_paths: list
    photos: list
    ros: RosStages
    messages: list | None
    runner: TfjsReference | None
    accuracy: tuple | None           # (ground truth, [(image id, photo path)])
    calibration: Int8Calibration | None
    use_ros: bool                    # time the node's paths through posenet_node too
    originals: dict = field(default_factory=dict)      # case -> the original's timing
    original_aps: dict = field(default_factory=dict)   # case -> the original's AP
    int8_builds: dict = field(default_factory=dict)    # model -> calibrate()'s report


def run_bench(cases, paths: list[BenchPath], photo_paths, options: BenchOptions,
              log=print) -> dict:
    """
    Time the grid; return a JSON-ready dict.

    meta, one row per (case, path), the goals, the camera runs (one per precision).
    """
    from posenet_ros.engine import estimator as _  # noqa: F401  (missing engine: fail here)
    photos = [load_image_rgb(path) for path in photo_paths]
    ros = RosStages()
    if not ros.available:
        log(f'note: ROS stages not timed ({ros.error})')
    meta = _meta(photo_paths, photos, ros, options, paths)
    use_ros = options.ros and ros.available
    if options.ros and not ros.available:
        log(f'note: no ROS end-to-end timing ({ros.error})')
    if use_ros:
        meta['dds'] = dds_description(options.image_reliability)
    uses_int8 = any(path.precision == 'int8' for path in paths)
    state = _RunState(
        options, log, list(photo_paths), photos, ros,
        [ros.image_message(p) for p in photos] if ros.available else None,
        TfjsReference() if options.original else None, _accuracy_data(options, meta),
        Int8Calibration(options.int8_calibration) if uses_int8 else None, use_ros)
    rows, nodes = [], []
    try:
        for model in dict.fromkeys(case.model for case in cases):
            by_path, model_nodes = _time_model(state, model,
                                               [c for c in cases if c.model == model], paths)
            nodes += model_nodes
            rows += sorted((row for path_rows in by_path.values() for row in path_rows),
                           key=lambda row: cases.index(case_of(row)))
        if uses_int8:
            meta['int8_calibration'] = {'source': state.calibration.description,
                                        'frames': len(state.calibration.images),
                                        'models': state.int8_builds}
        cameras = []
        if use_ros and options.camera_rates and options.camera_seconds > 0:
            # After the grid, at each precision of the run on the node's path timed through ROS
            # (int8: tflite, on the same calibration).
            for path in camera_paths(paths):
                parameters = (state.calibration.node_parameters() if path.precision == 'int8'
                              else None)
                cameras.append(camera_rate_run(photos[0], options, log, path.precision,
                                               parameters, path.backend))
    finally:
        if state.calibration is not None:
            state.calibration.close()
    if nodes:
        meta['ros_nodes'] = nodes
    if options.original:
        _attach_originals(state, cases, rows)
        meta['original'] = ('@tensorflow-models/posenet 2.2.2 on @tensorflow/tfjs-core 3.21.0, '
                            'wasm backend (Node.js ' + node_version() + ')')
    add_int8_network_ratios(rows)
    report = {'meta': meta, 'rows': rows, 'goals': check_goals(rows)}
    if cameras:
        report['cameras'] = cameras
    meta['load_average_end'] = load_average()
    return report


def camera_paths(paths: list[BenchPath]) -> list[BenchPath]:
    """Return the node's path of each precision (the camera-rate runs'), in the run's order."""
    first = {}
    for path in paths:
        if path.primary:
            first.setdefault(path.precision, path)
    return list(first.values())


def _meta(photo_paths, photos, ros: RosStages, options: BenchOptions, paths) -> dict:
    return {'date': datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
            'command': 'posenet_bench ' + ' '.join(shlex.quote(a) for a in sys.argv[1:]),
            'machine': machine_info(), 'load_average_start': load_average(),
            'photos': [Path(p).name for p in photo_paths],
            'repeat': options.repeat, 'samples_per_config': options.repeat * len(photos),
            'ros_stages': ros.available, 'ros_image_encoding': ros.encoding,
            'multi_settings': MULTI_SETTINGS,
            'paths': [{'backend': p.backend or 'default', 'precision': p.precision,
                       'primary': p.primary} for p in paths],
            'precisions': list(dict.fromkeys(p.precision for p in paths))}


def _accuracy_data(options: BenchOptions, meta: dict) -> tuple | None:
    """Return the COCO val ground truth and its photos, with --accuracy."""
    if not options.accuracy:
        return None
    from posenet_tools import eval as coco_eval
    annotations = coco_eval.default_annotations()
    ground_truth = coco_eval.load_annotations(annotations)
    meta['accuracy_annotations'] = annotations.name
    return ground_truth, coco_eval.annotated_images(ground_truth, annotations.parent / 'images')


def _time_model(state: _RunState, model: str, cases: list[BenchCase],
                paths: list[BenchPath]) -> tuple[dict[BenchPath, list[dict]], list[dict]]:
    """
    Return the rows of one model, per path, and the nodes that timed them through ROS.

    int8 is calibrated before anything is timed. Then, case by case: every path in process
    (in turns), the node's paths through ROS, the original, so that all see the same load on a
    shared machine.
    """
    estimators = {}
    for path in paths:
        try:
            estimators[path] = make_path_estimator(model, path, state.calibration)
        except Exception as error:  # a path that does not serve this model: say why
            estimators[path] = error_reason(error)
            state.log(f'{model} [{path.label}]: not available: {estimators[path]}')
            continue
        if path.precision == 'int8':
            state.int8_builds[model] = calibrate(estimators[path], model, cases, state.log)
    by_path = {path: [] for path in paths}
    with ExitStack() as nodes:
        timers = {path: nodes.enter_context(_node_timer(state, model, cases[0], path,
                                                        estimators[path]))
                  for path in paths if state.use_ros and path.primary
                  and not isinstance(estimators[path], str)}
        for case in cases:
            rows = _time_case(state, case, paths, estimators)
            for path, timer in timers.items():
                if not rows[path].get('error'):
                    timer.time_row(rows[path], state.messages)
            for path, row in rows.items():
                row['primary'] = path.primary  # the node's path at its precision
                by_path[path].append(row)
            if state.options.original and case not in state.originals:
                state.originals[case] = time_and_log_original(
                    state.runner, case, state.photo_paths, state.options, state.log)
    estimators.clear()
    gc.collect()
    return by_path, [timer.info for timer in timers.values()]


def _node_timer(state: _RunState, model: str, first: BenchCase, path: BenchPath,
                estimator) -> NodeTimer:
    """Return posenet_node for a path: its backend, and for int8 the same calibration."""
    parameters = state.calibration.node_parameters() if path.precision == 'int8' else None
    return NodeTimer(model, estimator.backend, first.config().snapped(), state.options,
                     state.log, parameters, f'{estimator.backend} {path.precision}')


def _time_case(state: _RunState, case: BenchCase, paths: list[BenchPath],
               estimators: dict) -> dict[BenchPath, dict]:
    """
    Return the row of each path for one case, the paths timed in turns.

    An error row for a path that cannot run it (its estimator could not be made, a fixed-size
    model at another size...), with the reason.
    """
    rows, ready = {}, {}
    config = case.config()
    for path in paths:
        estimator = estimators[path]
        if isinstance(estimator, str):  # the path's estimator could not be made: why
            rows[path] = make_row(case, path.backend or 'default', None, error=estimator,
                                  precision=path.precision)
            continue
        try:
            config.check(estimator.multiplier)
            warm_up(estimator, config.snapped(), state.photos, state.ros, state.messages)
            ready[path] = estimator
        except Exception as error:  # e.g. a fixed-size TFLite model at another size
            state.log(f'{case.label} [{path.label}]: not available: {error_reason(error)}')
            rows[path] = make_row(case, estimator.backend, None, error=error_reason(error),
                                  precision=path.precision, multiplier=estimator.multiplier)
    timed = time_passes(list(ready.values()), config.snapped(), state.photos,
                        state.options.repeat, state.ros, state.messages)
    for (path, estimator), samples in zip(ready.items(), timed):
        row = make_row(case, estimator.backend, samples, precision=path.precision,
                       multiplier=estimator.multiplier)
        if state.accuracy and path.primary:
            row.update(case_accuracy(estimator, case, *state.accuracy, state.runner,
                                     state.original_aps))
        state.log(_progress_line(row))
        rows[path] = row
    return {path: rows[path] for path in paths}


def _attach_originals(state: _RunState, cases: list[BenchCase], rows: list[dict]) -> None:
    """Give every row the original's timing of its case and our speed-ups over it."""
    for case in cases:
        if case not in state.originals:
            state.originals[case] = time_and_log_original(state.runner, case, state.photo_paths,
                                                          state.options, state.log)
        summary = state.originals[case]
        for row in rows:
            if case_of(row) == case:
                row['original'] = summary
                for key, ours in (('speedup', stage_median(row, 'pipeline')),
                                  ('speedup_ros', (row.get('ros') or {}).get('median')),
                                  ('speedup_ros_messages',
                                   (row.get('ros_messages') or {}).get('median'))):
                    if ours and summary['median']:
                        row[key] = summary['median'] / ours


def _progress_line(row: dict) -> str:
    stages = row['stages']
    parts = [f"{STAGE_TITLES[s]} {stages[s]['median']:.1f}" for s in STAGES
             if stages[s]['median'] is not None]
    line = (f"{case_of(row).label} [{row['backend']} {row['precision']}]: " + ', '.join(parts)
            + ' ms (medians)')
    if 'ap' in row:
        line += f"; AP {row['ap']:.3f}"
    return line
