"""
One posenet_bench run.

Every configuration and inference path, the original beside each, then ROS latency and the
camera-rate runs.
"""
from __future__ import annotations

import datetime
import gc
import os
from pathlib import Path
import platform
import shlex
import sys

import numpy as np
from posenet_ros.engine.image_io import load_image_rgb
from posenet_tools.bench.accuracy import case_accuracy
from posenet_tools.bench.camera import camera_rate_run
from posenet_tools.bench.grid import (BenchCase, BenchOptions, case_of, error_reason,
                                      make_estimator, make_row, MULTI_SETTINGS, RosStages,
                                      STAGE_TITLES, STAGES, time_case)
from posenet_tools.bench.original import node_version, time_and_log_original
from posenet_tools.bench.ros_latency import dds_description, time_through_ros
from posenet_tools.tfjs_reference import TfjsReference


def machine_info() -> dict:
    cpu = platform.processor() or ''
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    except OSError:
        pass
    info = {'cpu': cpu, 'cores': os.cpu_count(), 'python': platform.python_version(),
            'platform': platform.platform()}
    try:
        import tensorflow as tf
        info['tensorflow'] = tf.__version__
    except ImportError:
        pass
    info['numpy'] = np.__version__
    return info


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def run_bench(cases, backends, photo_paths, options: BenchOptions, log=print) -> dict:
    """Time the grid; a JSON-ready dict: meta, one row per (case, inference path), camera runs."""
    from posenet_ros.engine import estimator as _  # noqa: F401  (missing engine: fail here)
    photos = [load_image_rgb(path) for path in photo_paths]
    ros = RosStages()
    if not ros.available:
        log(f'note: ROS stages not timed ({ros.error})')
    messages = [ros.image_message(p) for p in photos] if ros.available else None
    repeat = options.repeat
    meta = {'date': datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
            'command': 'posenet_bench ' + ' '.join(shlex.quote(a) for a in sys.argv[1:]),
            'machine': machine_info(), 'load_average_start': load_average(),
            'photos': [Path(p).name for p in photo_paths],
            'repeat': repeat, 'samples_per_config': repeat * len(photos),
            'ros_stages': ros.available, 'ros_image_encoding': ros.encoding,
            'multi_settings': MULTI_SETTINGS}
    runner = TfjsReference() if options.original else None
    ground_truth = images = None
    if options.accuracy:
        from posenet_tools import eval as coco_eval
        annotations = coco_eval.default_annotations()
        ground_truth = coco_eval.load_annotations(annotations)
        images = coco_eval.annotated_images(ground_truth, annotations.parent / 'images')
        meta['accuracy_annotations'] = annotations.name
    use_ros = options.ros and ros.available
    if options.ros and not ros.available:
        log(f'note: no ROS end-to-end timing ({ros.error})')
    if use_ros:
        meta['dds'] = dds_description(options.image_reliability)

    rows = []
    originals: dict[BenchCase, dict] = {}
    for model in dict.fromkeys(case.model for case in cases):
        model_cases = [case for case in cases if case.model == model]
        for backend_index, backend in enumerate(backends):
            try:
                estimator = make_estimator(model, backend)
            except Exception as error:  # a path that does not serve this model: say why
                for case in model_cases:
                    rows.append(make_row(case, backend or 'default', None,
                                         error=error_reason(error)))
                log(f'{model} [{backend or "default path"}]: not available: '
                    f'{type(error).__name__}: {error}')
                continue
            backend_name = getattr(estimator, 'backend', backend)
            new_rows = []
            for case in model_cases:
                config = case.config()
                try:
                    config.check(estimator.multiplier)
                    samples = time_case(estimator, config.snapped(), photos, repeat,
                                        ros, messages)
                except Exception as error:  # e.g. a fixed-size TFLite model at another size
                    rows.append(make_row(case, backend_name, None, error=error_reason(error)))
                    log(f'{case.label} [{backend_name}]: not available: {error_reason(error)}')
                    continue
                row = make_row(case, backend_name, samples)
                if options.accuracy and backend_index == 0:
                    row.update(case_accuracy(estimator, case, ground_truth, images, runner))
                new_rows.append(row)
                log(_progress_line(row))
                if options.original and case not in originals:
                    # Right after ours, so both see the same load on a shared machine.
                    originals[case] = time_and_log_original(runner, case, photo_paths,
                                                            options, log)
            del estimator
            gc.collect()
            if use_ros and new_rows and backend_index == 0:  # the node's path: the first
                time_through_ros(model, backend_name, new_rows, messages, options, log)
            rows += new_rows
    if options.original:
        for case in cases:
            if case not in originals:
                originals[case] = time_and_log_original(runner, case, photo_paths, options, log)
            summary = originals[case]
            for row in rows:
                if case_of(row) == case:
                    row['original'] = summary
                    for key, ours in (('speedup', _median(row, 'pipeline')),
                                      ('speedup_ros', (row.get('ros') or {}).get('median'))):
                        if ours and summary['median']:
                            row[key] = summary['median'] / ours
        meta['original'] = ('@tensorflow-models/posenet 2.2.2 on @tensorflow/tfjs-core 3.21.0, '
                            'wasm backend (Node.js ' + node_version() + ')')
    report = {'meta': meta, 'rows': rows}
    if use_ros and options.camera_rates and options.camera_seconds > 0:
        report['camera'] = camera_rate_run(photos[0], options, log)
    meta['load_average_end'] = load_average()
    return report


def _median(row: dict, stage: str):
    return row.get('stages', {}).get(stage, {}).get('median')


def _progress_line(row: dict) -> str:
    stages = row['stages']
    parts = [f"{STAGE_TITLES[s]} {stages[s]['median']:.1f}" for s in STAGES
             if stages[s]['median'] is not None]
    line = f"{case_of(row).label} [{row['backend']}]: " + ', '.join(parts) + ' ms (medians)'
    if 'ap' in row:
        line += f"; AP {row['ap']:.3f}"
    return line
