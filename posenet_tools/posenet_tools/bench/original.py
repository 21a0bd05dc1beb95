"""The original tfjs PoseNet timed on a configuration of the grid (Node.js, wasm backend)."""
from __future__ import annotations

import subprocess

from posenet_tools.bench.grid import (BenchCase, BenchOptions, error_reason, model_folder,
                                      MULTI_SETTINGS, stats)
from posenet_tools.tfjs_reference import TfjsReference


def original_settings(case: BenchCase) -> dict:
    """ref.js options for the case's decoding (the library's names)."""
    if case.mode != 'multi':
        return {}
    return {'max_detections': MULTI_SETTINGS['max_pose_detections'],
            'score_threshold': MULTI_SETTINGS['score_threshold'],
            'nms_radius': MULTI_SETTINGS['nms_radius']}


def time_original(runner: TfjsReference, case: BenchCase, photo_paths, repeat: int) -> dict:
    """
    Time the original's estimate calls (ms) for this configuration.

    Or return the reason it failed.
    """
    try:
        run = runner.run(model_folder(case.model), photo_paths, stride=case.stride,
                         resolution=case.resolution,
                         mode=case.mode, repeat=repeat, **original_settings(case))
    except Exception as error:  # no Node.js, no graph model, ref.js failed: say why, go on
        return {'error': error_reason(error), 'samples': []}
    return {'error': None, 'samples': run.times_ms}


def time_and_log_original(runner, case: BenchCase, photo_paths, options: BenchOptions,
                          log) -> dict:
    repeat = options.repeat if options.original_repeat is None else options.original_repeat
    original = time_original(runner, case, photo_paths, repeat)
    summary = {**stats(original['samples']), 'error': original['error']}
    log(f'{case.label} [original, wasm]: '
        + (f"median {summary['median']:.1f} ms" if summary['median'] else original['error']))
    return summary


def node_version() -> str:
    try:
        return subprocess.run(['node', '--version'], capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return '?'
