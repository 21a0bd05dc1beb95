"""COCO keypoint AP of a configuration of the grid, ours and the original's (AP vs speed)."""
from __future__ import annotations

import subprocess

from posenet_tools.bench.grid import BenchCase, model_folder
from posenet_tools.bench.original import original_settings
from posenet_tools.tfjs_reference import TfjsReferenceError


def case_accuracy(estimator, case: BenchCase, ground_truth, images, runner=None,
                  original_aps: dict | None = None) -> dict:
    """
    Return the COCO keypoint AP of ours and of the original (stored reference, or a Node.js run).

    `original_aps` (case -> AP) keeps the original's AP of a case for its other rows (another
    precision), so the original is run once per case.
    """
    from posenet_tools import eval as coco_eval
    config = case.config()
    config.check(estimator.multiplier)
    data = coco_eval.run_estimator(estimator, config.snapped(), images, progress=False)
    ours = coco_eval.evaluate_results(data, ground_truth)[0].ap
    if original_aps is not None and case in original_aps:
        return {'ap': ours, 'original_ap': original_aps[case]}
    original = coco_eval.original_ap(data['config'], None, ground_truth)
    if original is None and runner is not None:
        try:
            run = runner.run(model_folder(case.model), [p for _, p in images], stride=case.stride,
                             resolution=case.resolution, mode=case.mode, repeat=1,
                             **original_settings(case))
            original = coco_eval.evaluate_results(run.as_reference_json(), ground_truth)[0].ap
        except (TfjsReferenceError, ValueError, subprocess.SubprocessError):
            original = None
    if original_aps is not None:
        original_aps[case] = original
    return {'ap': ours, 'original_ap': original}
