"""
Parity with the original: compare two results files, or re-run every reference configuration.

    posenet_parity OURS.json REF.json
    posenet_parity --all                 # 13 configurations x coco, smoke
    posenet_parity --all --weights mobilenet_v1_075_weights

Two files match when they hold the same image ids, the same number of poses per image in the
same order, at least 99% of keypoints within 0.5 px and pose scores within 0.01. `--all` runs
our estimator with the configuration stored in each reference file of
$POSENET_SHARED/reference/{coco,smoke} on the same photos and prints one table row per file;
`--weights` swaps in other weights of the same width (e.g. the float checkpoint for the uint16
0.75 graph model: differences then include weight quantization). Exit status 0 when every
comparison meets the target, 1 otherwise, 2 on bad input (nothing to compare among it).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
import os
from pathlib import Path
import sys
import time

import numpy as np
from posenet_ros.engine.model_store import multiplier_from_model_name
from posenet_ros.engine.results_json import (config_record, estimate_config_from_record,
                                             pose_arrays, read_results, result_record,
                                             results_document, ResultsFormatError,
                                             write_json_atomic)
from posenet_ros.tools.estimate import positive_int
from posenet_tools.shared_data import models_dir, shared_dir

TOLERANCE_PX = 0.5
MIN_SHARE_WITHIN = 0.99
MAX_POSE_SCORE_DIFF = 0.01
# Where the photos of each reference set are, under the shared folder.
IMAGE_SETS = {'coco': Path('data/coco_kpts/images'), 'smoke': Path('data/smoke')}


@dataclass
class ParityReport:
    """How far one results file is from another (the reference)."""

    tolerance_px: float = TOLERANCE_PX  # a keypoint this close to the reference's matches
    n_images: int = 0
    missing_ids: list = field(default_factory=list)  # in the reference, not in ours
    extra_ids: list = field(default_factory=list)  # in ours, not in the reference
    count_mismatches: list = field(default_factory=list)  # (id, ours, reference)
    order_mismatches: list = field(default_factory=list)  # ids whose poses come in another order
    n_poses_ours: int = 0
    n_poses_reference: int = 0
    n_keypoints: int = 0  # keypoints compared (poses paired by position in the list)
    n_within: int = 0
    max_deviation_px: float = 0.0
    max_pose_score_diff: float = 0.0
    max_keypoint_score_diff: float = 0.0
    deviations_px: list = field(default_factory=list, repr=False)  # of every compared keypoint

    @property
    def median_deviation_px(self) -> float:
        return float(np.median(self.deviations_px)) if self.deviations_px else 0.0

    @property
    def share_within(self) -> float:
        return self.n_within / self.n_keypoints if self.n_keypoints else 1.0

    def failures(self, min_share: float = MIN_SHARE_WITHIN,
                 max_score_diff: float = MAX_POSE_SCORE_DIFF) -> list[str]:
        """Return what misses the parity target, one line each (empty when it is met)."""
        problems = []
        if self.missing_ids:
            problems.append(f'{len(self.missing_ids)} reference images missing: '
                            f'{self.missing_ids[:5]}')
        if self.extra_ids:
            problems.append(f'{len(self.extra_ids)} images not in the reference: '
                            f'{self.extra_ids[:5]}')
        if self.count_mismatches:
            problems.append(f'pose count differs on {len(self.count_mismatches)} images '
                            f'(id, ours, reference): {self.count_mismatches[:5]}')
        if self.order_mismatches:
            problems.append(f'pose order differs on {len(self.order_mismatches)} images: '
                            f'{self.order_mismatches[:5]}')
        if self.share_within < min_share:
            problems.append(f'{100 * self.share_within:.2f}% of keypoints within '
                            f'{self.tolerance_px} px (< {100 * min_share:.0f}%)')
        if self.max_pose_score_diff > max_score_diff:
            problems.append(f'pose score differs by up to {self.max_pose_score_diff:.4f} '
                            f'(> {max_score_diff})')
        return problems

    def summary(self) -> str:
        verdict = 'PASS' if not self.failures() else 'FAIL'
        lines = [
            f'{verdict}: {self.n_images} images, poses {self.n_poses_ours} ours / '
            f'{self.n_poses_reference} reference, {self.n_keypoints} keypoints compared',
            f'  within {self.tolerance_px} px: {100 * self.share_within:.2f}%, deviation median '
            f'{self.median_deviation_px:.4f} px, largest {self.max_deviation_px:.4f} px',
            f'  largest score difference: pose {self.max_pose_score_diff:.2e}, keypoint '
            f'{self.max_keypoint_score_diff:.2e}',
        ]
        lines += [f'  {problem}' for problem in self.failures()]
        return '\n'.join(lines)


def _poses_in_order(ours: list, reference: list) -> bool:
    """
    Tell whether each of our poses is closest to the reference pose in the same position.

    Closest in mean keypoint distance, position in the list.
    """
    ours_xy = np.stack([pose_arrays(pose)[1] for pose in ours])
    ref_xy = np.stack([pose_arrays(pose)[1] for pose in reference])
    distance = np.linalg.norm(ours_xy[:, None] - ref_xy[None], axis=-1).mean(axis=-1)
    return bool((distance.argmin(axis=1) == np.arange(len(ours))).all())


def compare_results(ours: dict, reference: dict, tolerance_px: float = TOLERANCE_PX
                    ) -> ParityReport:
    """Compare two results documents (see `engine/results_json.py`), image by image."""
    report = ParityReport(tolerance_px=tolerance_px)
    ours_by_id = {result['id']: result for result in ours['results']}
    ref_by_id = {result['id']: result for result in reference['results']}
    report.missing_ids = [i for i in ref_by_id if i not in ours_by_id]
    report.extra_ids = [i for i in ours_by_id if i not in ref_by_id]
    for image_id, ref_result in ref_by_id.items():
        if image_id not in ours_by_id:
            continue
        report.n_images += 1
        our_poses, ref_poses = ours_by_id[image_id]['poses'], ref_result['poses']
        report.n_poses_ours += len(our_poses)
        report.n_poses_reference += len(ref_poses)
        if len(our_poses) != len(ref_poses):
            report.count_mismatches.append((image_id, len(our_poses), len(ref_poses)))
        paired = min(len(our_poses), len(ref_poses))
        if paired > 1 and not _poses_in_order(our_poses[:paired], ref_poses[:paired]):
            report.order_mismatches.append(image_id)
        for our_pose, ref_pose in zip(our_poses[:paired], ref_poses[:paired]):
            our_score, our_xy, our_scores = pose_arrays(our_pose)
            ref_score, ref_xy, ref_scores = pose_arrays(ref_pose)
            deviation = np.linalg.norm(our_xy - ref_xy, axis=1)
            report.n_keypoints += deviation.size
            report.deviations_px.extend(deviation.tolist())
            report.n_within += int((deviation <= tolerance_px).sum())
            report.max_deviation_px = max(report.max_deviation_px, float(deviation.max()))
            report.max_pose_score_diff = max(report.max_pose_score_diff,
                                             abs(our_score - ref_score))
            report.max_keypoint_score_diff = max(report.max_keypoint_score_diff,
                                                 float(np.abs(our_scores - ref_scores).max()))
    return report


# ---------------------------------------------------------------------------------------------
# Re-running the reference configurations


def images_by_id(folder: Path) -> dict:
    from posenet_ros.engine.image_io import image_id
    return {image_id(path): path for path in sorted(folder.iterdir()) if path.is_file()}


class EstimatorCache:
    """One PoseEstimator per weights folder, loaded on first use."""

    def __init__(self, models_dir: Path, backend: str | None = None):
        self.models_dir = models_dir
        self.backend = backend
        self._estimators = {}

    def get(self, model: str):
        if model not in self._estimators:
            os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # TensorFlow's INFO lines
            from posenet_ros.engine.estimator import PoseEstimator
            options = {} if self.backend is None else {'backend': self.backend}
            folder = self.models_dir / model
            self._estimators[model] = PoseEstimator(str(folder if folder.is_dir() else model),
                                                    **options)
        return self._estimators[model]


def rerun_reference(reference: dict, image_folder: Path, estimator, model_name: str,
                    limit: int | None = None) -> dict:
    """Our results for the reference's configuration and images (the first `limit` of them)."""
    from posenet_ros.engine.image_io import load_image_rgb
    config = estimate_config_from_record(reference['config']).snapped()
    config.check(estimator.multiplier)
    paths = images_by_id(image_folder)
    wanted = [result['id'] for result in reference['results']][:limit]
    missing = [i for i in wanted if i not in paths]
    if missing:
        raise FileNotFoundError(f'no photo for ids {missing[:5]} in {image_folder}')
    estimator.warmup(config)
    results, times = [], []
    for image_id in wanted:
        image = load_image_rgb(paths[image_id])
        start = time.perf_counter()
        estimate = estimator.estimate(image, config)
        times.append((time.perf_counter() - start) * 1e3)
        results.append(result_record(image_id, estimate.image_width, estimate.image_height,
                                     estimate.poses))
    return results_document(config_record(config, model_name, estimator.backend), results, times)


def reference_files(shared: Path, sets: list[str]) -> list[tuple[str, Path]]:
    files = []
    for name in sets:
        folder = shared / 'reference' / name
        if not folder.is_dir():
            raise FileNotFoundError(f'no reference folder {folder}')
        files += [(name, path) for path in sorted(folder.glob('*.json'))]
    return files


TABLE_HEADER = ('| set | reference configuration | weights | images | poses ours/ref | '
                f'within {TOLERANCE_PX} px | median dev px | max dev px | max pose-score diff | '
                'max kp-score diff | result |\n'
                '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |')


def verdict(report: ParityReport) -> str:
    """'pass', or 'FAIL' and the short names of what missed the target (details: summary())."""
    if not report.failures():
        return 'pass'
    missed = []
    if report.missing_ids or report.extra_ids:
        missed.append('ids')
    if report.count_mismatches:
        missed.append(f'counts on {len(report.count_mismatches)} images')
    if report.order_mismatches:
        missed.append(f'order on {len(report.order_mismatches)} images')
    if report.share_within < MIN_SHARE_WITHIN:
        missed.append('keypoints')
    if report.max_pose_score_diff > MAX_POSE_SCORE_DIFF:
        missed.append('pose scores')
    return 'FAIL: ' + ', '.join(missed)


def table_row(set_name: str, reference_name: str, weights: str, report: ParityReport) -> str:
    return (f'| {set_name} | {reference_name} | {weights} | {report.n_images} | '
            f'{report.n_poses_ours}/{report.n_poses_reference} | '
            f'{100 * report.share_within:.2f}% | {report.median_deviation_px:.4f} | '
            f'{report.max_deviation_px:.3f} | '
            f'{report.max_pose_score_diff:.2e} | {report.max_keypoint_score_diff:.2e} | '
            f'{verdict(report)} |')


def run_all(shared: Path, sets: list[str], weights: str | None, backend: str | None,
            limit: int | None, out_dir: Path | None, tolerance_px: float = TOLERANCE_PX,
            stream=sys.stdout) -> bool:
    """
    Re-run every reference file of `sets`, print the Markdown table; True if all pass.

    ValueError when none could be compared (no reference of the width of `weights`): a run
    that compared nothing has not shown parity.
    """
    cache = EstimatorCache(models_dir(shared), backend)
    all_pass, compared = True, 0
    print(TABLE_HEADER, file=stream, flush=True)
    for set_name, path in reference_files(shared, sets):
        reference = read_results(path)
        model = reference['config']['model']
        if weights is not None:
            if multiplier_from_model_name(weights) != multiplier_from_model_name(model):
                continue
            model = weights
        ours = rerun_reference(reference, shared / IMAGE_SETS[set_name], cache.get(model),
                               model, limit)
        if out_dir is not None:
            write_json_atomic(out_dir / set_name / path.name, ours)
        if limit is not None:
            kept = {result['id'] for result in ours['results']}
            reference = dict(reference, results=[r for r in reference['results']
                                                 if r['id'] in kept])
        report = compare_results(ours, reference, tolerance_px)
        all_pass &= not report.failures()
        compared += 1
        print(table_row(set_name, path.stem, model, report), file=stream, flush=True)
    if not compared:
        raise ValueError(f"nothing compared: no reference of {', '.join(sets)} has the width of "
                         f'{weights}' if weights is not None else
                         f"nothing compared: no reference files in {', '.join(sets)}")
    return all_pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='posenet_parity', description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('files', nargs='*', metavar='OURS.json REF.json',
                        help='two results files to compare')
    parser.add_argument('--all', action='store_true',
                        help='re-run every reference configuration and print the table')
    parser.add_argument('--sets', nargs='+', choices=sorted(IMAGE_SETS), default=['coco', 'smoke'])
    parser.add_argument('--weights', default=None,
                        help='--all: use these weights for the references of the same width')
    parser.add_argument('--backend', default=None, help="--all: the estimator's backend")
    parser.add_argument('--limit', type=positive_int, default=None,
                        help='--all: only the first N images of each reference file')
    parser.add_argument('--out-dir', type=Path, default=None,
                        help='--all: keep our results as OUT_DIR/<set>/<reference name>.json')
    parser.add_argument('--shared', type=Path, default=None,
                        help='the shared data folder (default: $POSENET_SHARED or ../shared)')
    parser.add_argument('--tolerance', type=float, default=TOLERANCE_PX,
                        help='keypoint distance counted as a match (pixels)')
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.all:
        if args.files:
            parser.error('give either two files or --all')
        shared = args.shared or shared_dir()
        if not (shared / 'reference').is_dir():
            parser.error(f'no reference outputs under {shared}: pass --shared or set '
                         'POSENET_SHARED')
        try:
            return 0 if run_all(shared, args.sets, args.weights, args.backend, args.limit,
                                args.out_dir, args.tolerance) else 1
        except (ResultsFormatError, FileNotFoundError, ValueError) as error:
            print(f'parity: {error}', file=sys.stderr)
            return 2
    if len(args.files) != 2:
        parser.error('give two results files (ours, then the reference), or --all')
    try:
        ours, reference = (read_results(path) for path in args.files)
    except ResultsFormatError as error:
        print(f'parity: {error}', file=sys.stderr)
        return 2
    report = compare_results(ours, reference, args.tolerance)
    print(report.summary())
    return 0 if not report.failures() else 1


if __name__ == '__main__':
    sys.exit(main())
