"""
The frontier study: which points it measures, skips, keeps and chooses.

The choice logic on made-up points (no timing is asserted), then one real run of the command
on the smallest grid (float32, one size) and a retiming of what it saved. The AP that run
reports is checked against an evaluation of its own wiring: PoseEstimator over the val photos
and pycocotools' COCOeval called here directly (not `posenet_eval`'s functions the study uses).
"""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

from posenet_ros.engine.config import EstimateConfig
from posenet_ros.engine.image_io import load_image_rgb
from posenet_tools import frontier_study
from posenet_tools.frontier_study import (choose, costs_at_least, finalists, grid, merged,
                                          pareto, Point)
import pytest


def point(resolution='353x481', precision='float32', stride=16, flip=False, ap=None, ms=None,
          model='mobilenet_quant2_075') -> Point:
    return Point(model, precision, stride, resolution, flip, ap=ap, camera_ms=ms)


def test_the_grid_runs_cheapest_first_within_a_model_precision_and_stride():
    points = grid(['m'], ['float32', 'int8'], ['481x641', '353x481'], [16, 8], [False, True])
    assert len(points) == 16
    first = [(p.resolution, p.flip) for p in points[:4]]
    assert first == [('353x481', False), ('353x481', True), ('481x641', False),
                     ('481x641', True)]
    assert [p.stride for p in points[:8]] == [16] * 4 + [8] * 4
    assert {p.precision for p in points[8:]} == {'int8'}


def test_a_point_costs_at_least_another_with_as_many_pixels_and_flips_of_its_kind():
    small, large = point('353x481'), point('481x641')
    assert costs_at_least(large, small) and costs_at_least(small, small)
    assert not costs_at_least(small, large)
    assert costs_at_least(point('481x641', flip=True), small)
    assert not costs_at_least(large, point('353x481', flip=True))
    assert not costs_at_least(large, point('353x481', precision='int8'))
    assert not costs_at_least(large, point('353x481', stride=8))


def test_the_choice_is_the_most_accurate_point_within_the_budget():
    points = [point('289x385', ap=0.20, ms=10), point('353x481', ap=0.28, ms=19),
              point('481x641', ap=0.33, ms=41), point('417x545', 'int8', ap=0.30, ms=12),
              point('513x673', 'int8', ap=0.33, ms=20), point('577x769', ap=None)]
    assert choose(points, 40.0).key.endswith('int8 s16 513x673')
    assert choose(points, 41.0).key.endswith('int8 s16 513x673')  # tie on AP: the faster
    assert choose(points, 5.0) is None
    # The latest timing counts: retimed over the budget, it is out.
    points[4].final_ms = 45.0
    assert choose(points, 40.0).key.endswith('int8 s16 417x545')


def test_the_frontier_keeps_the_points_nothing_beats_on_both_ap_and_time():
    points = [point('289x385', ap=0.20, ms=10), point('353x481', ap=0.28, ms=19),
              point('417x545', ap=0.27, ms=25), point('481x641', ap=0.33, ms=41),
              point('353x481', 'int8', ap=0.27, ms=8)]
    assert [p.resolution for p in pareto(points)] == ['353x481', '353x481', '481x641']
    assert [p.precision for p in pareto(points)][0] == 'int8'


def test_finalists_are_the_best_near_the_budget_and_the_old_yaml():
    old = point('353x481', ap=0.28, ms=15)
    points = [old, point('481x641', ap=0.33, ms=45), point('577x769', ap=0.34, ms=60),
              point('481x641', 'int8', ap=0.32, ms=17), point('513x673', 'int8', ap=0.33, ms=21)]
    chosen = finalists(points, 40.0, 2)
    assert [p.resolution for p in chosen] == ['481x641', '513x673', '353x481']
    assert chosen[-1] is old and frontier_study.is_old_yaml(old)


def test_merged_points_replace_those_of_their_key_when_scored():
    skipped = point('417x545', flip=True)
    skipped.skipped = 'pilot 121 ms > 100 ms'
    kept = point('353x481', ap=0.28, ms=15)
    again = point('417x545', flip=True, ap=0.31, ms=38)
    result = merged([kept, skipped], [again, point('353x481')])
    assert result == [kept, again]


class FakeBench:
    """Pilot times from the input pixels and the flip test; AP from the pixels."""

    def __init__(self):
        self.piloted, self.scored, self.logged = [], [], []

    def pilot(self, p: Point) -> None:
        self.piloted.append(p.key)
        p.pilot_ms = p.pixels / 10000 * (2 if p.flip else 1)

    def score(self, p: Point) -> None:
        self.scored.append(p.key)
        p.ap = p.pixels / 1e6

    def runner(self, p: Point):
        return lambda: None

    def log(self, text: str) -> None:
        self.logged.append(text)


def test_points_over_the_pilot_limit_and_those_costing_more_are_not_scored():
    bench = FakeBench()
    points = grid(['m'], ['float32'], ['353x481', '481x641', '577x769'], [16], [False, True])
    saves = []
    frontier_study.measure_grid(bench, points, skip_ms=40.0, repeats=2,
                                save=lambda: saves.append(sum(p.ap is not None for p in points)))
    assert saves == [0, 1, 2, 3, 3, 3]  # before each point: what was scored so far
    by_key = {p.key: p for p in points}
    # 353x481: 17 / 34 ms; 481x641: 31 / 62 ms (over); 577x769: 44 ms (over).
    assert bench.scored == ['m float32 s16 353x481', 'm float32 s16 353x481 flip',
                            'm float32 s16 481x641']
    assert 'm float32 s16 577x769 flip' not in bench.piloted  # costs more than a point over
    assert by_key['m float32 s16 577x769 flip'].skipped.startswith('costs at least')
    assert by_key['m float32 s16 481x641 flip'].skipped.startswith('pilot 62 ms')
    assert all(p.camera_ms is not None for p in points if p.ap is not None)
    assert all(p.camera_ms is None for p in points if p.ap is None)


def independent_ap(annotations: Path, config: EstimateConfig) -> float:
    """
    COCO keypoint AP of float32 mobilenet_quant2_075 with `config` on the annotated photos.

    Wired apart from the study: our own photo loop, detections and COCOeval call.
    """
    from posenet_ros.engine.estimator import PoseEstimator
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(annotations))
    # The study's inference path and threads: the same poses, so the same AP to the digit.
    estimator = PoseEstimator('mobilenet_quant2_075', backend='tflite',
                              num_threads=frontier_study.THREADS)
    detections = []
    for image in truth.loadImgs(truth.getImgIds()):
        rgb = load_image_rgb(annotations.parent / 'images' / image['file_name'])
        for pose in estimator.estimate(rgb, config).poses:
            keypoints = [float(v) for (x, y), score in zip(pose.keypoint_coords,
                                                           pose.keypoint_scores)
                         for v in (x, y, score)]
            detections.append({'image_id': image['id'], 'category_id': 1,
                               'keypoints': keypoints, 'score': float(pose.score)})
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = COCOeval(truth, truth.loadRes(detections), 'keypoints')
        evaluator.params.imgIds = sorted(truth.getImgIds())
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return float(evaluator.stats[0])


def test_the_command_scores_times_plots_and_retimes(models_path, data_path, tmp_path,
                                                    monkeypatch):
    monkeypatch.setenv('POSENET_MODELS', str(models_path))
    annotations = data_path / 'coco_kpts' / 'annotations_val2017.json'
    out, plot, table = tmp_path / 'f.json', tmp_path / 'f.png', tmp_path / 'f.md'
    # A budget no timing misses: what is chosen must not depend on the machine's load.
    common = ['--annotations', str(annotations), '--quiet', '--repeats', '2',
              '--budget-ms', '10000']
    assert frontier_study.main(common + [
        '--precisions', 'float32', '--sizes', '353x481', '--strides', '16', '--flips', 'off',
        '--out', str(out), '--plot', str(plot), '--markdown', str(table)]) == 0
    saved = json.loads(out.read_text())
    (only,) = saved['points']
    # The point's setting, spelled out: the yaml's accuracy options (aspect ratio, refined
    # keypoints, pose score of the 5 best) and posenet_eval's multi-pose 10 / 0.1 / 30.
    config = EstimateConfig(output_stride=16, input_height=353, input_width=481,
                            decoding='multi', max_pose_detections=10, score_threshold=0.1,
                            nms_radius=30.0, match_aspect_ratio=True, refine_keypoints=True,
                            flip_test=False, pose_score_keypoints=5)
    expected = independent_ap(annotations, config)
    # The same poses and the same COCOeval: equal (to within a threaded kernel's last bit).
    assert only['ap'] == pytest.approx(expected, abs=5e-4)
    assert only['camera_ms'] > 0 and saved['chosen'] == only['key']
    assert plot.read_bytes()[:4] == b'\x89PNG'
    row = f"| quant2_075 | float32 | 16 | 353x481 | off | {only['ap']:.3f} |"
    assert row in table.read_text().replace('**', '')
    assert frontier_study.main(common + ['--retime', str(out), '--final-repeats', '2']) == 0
    (retimed,) = json.loads(out.read_text())['points']
    assert retimed['final_ms'] > 0 and retimed['ap'] == only['ap']
    plot.unlink()
    assert frontier_study.main(['--report', str(out), '--plot', str(plot)]) == 0
    assert plot.is_file() and json.loads(out.read_text())['points'] == [retimed]
