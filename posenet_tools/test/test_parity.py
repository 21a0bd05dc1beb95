"""
Parity with the original tfjs PoseNet 2.2.2 on its reference outputs (a CI-sized sample).

Every reference configuration (13 per set: two models, strides 8 and 16, single, flipped
single and two multi-person settings) is re-run on the first photos of the coco and smoke sets
and must meet the parity target: same poses in the same order, >= 99% of keypoints within
0.5 px, pose scores within 0.01. The full table: `posenet_parity --all`.
"""
from __future__ import annotations

import copy

from posenet_ros.engine.results_json import read_results
from posenet_tools.parity import compare_results, EstimatorCache, IMAGE_SETS, main, rerun_reference
import pytest

SAMPLE = {'coco': 10, 'smoke': 6}  # photos per reference file


@pytest.fixture(scope='module')
def estimators(models_path):
    return EstimatorCache(models_path)


def test_all_thirteen_configurations_are_there(reference_path):
    for name in SAMPLE:
        assert len(list((reference_path / name).glob('*.json'))) == 13


@pytest.mark.parametrize('set_name', sorted(SAMPLE))
def test_sample_matches_the_original(set_name, reference_path, data_path, estimators):
    rows = []
    for path in sorted((reference_path / set_name).glob('*.json')):
        reference = read_results(path)
        model = reference['config']['model']
        ours = rerun_reference(reference, data_path.parent / IMAGE_SETS[set_name],
                               estimators.get(model), model, limit=SAMPLE[set_name])
        kept = {result['id'] for result in ours['results']}
        reference['results'] = [r for r in reference['results'] if r['id'] in kept]
        report = compare_results(ours, reference)
        assert report.n_images == SAMPLE[set_name]
        if report.failures():
            rows.append(f'{path.name}:\n{report.summary()}')
    assert not rows, '\n'.join(rows)


@pytest.fixture(scope='module')
def demo_reference(reference_path):
    return read_results(reference_path / 'coco' /
                        'mobilenet_quant2_075_s16_r353x481_multi_demo.json')


def test_identical_files_pass(demo_reference):
    report = compare_results(demo_reference, demo_reference)
    assert not report.failures()
    assert report.share_within == 1.0 and report.max_deviation_px == 0.0
    assert report.n_keypoints == 17 * report.n_poses_reference > 0


def test_each_kind_of_drift_is_caught(demo_reference):
    results = demo_reference['results']
    multi = next(i for i, r in enumerate(results) if len(r['poses']) >= 3)

    moved = copy.deepcopy(demo_reference)  # every keypoint 0.6 px off
    for result in moved['results']:
        for pose in result['poses']:
            for keypoint in pose['keypoints']:
                keypoint['x'] += 0.6
    report = compare_results(moved, demo_reference)
    assert report.share_within == 0.0 and report.max_deviation_px == pytest.approx(0.6)
    assert any('within 0.5 px' in line for line in report.failures())

    swapped = copy.deepcopy(demo_reference)
    poses = swapped['results'][multi]['poses']
    poses[0], poses[1] = poses[1], poses[0]
    assert compare_results(swapped, demo_reference).order_mismatches == [results[multi]['id']]

    dropped = copy.deepcopy(demo_reference)
    dropped['results'][multi]['poses'].pop()
    dropped['results'].pop()
    report = compare_results(dropped, demo_reference)
    assert report.missing_ids == [results[-1]['id']]
    assert report.count_mismatches[0][0] == results[multi]['id']

    rescored = copy.deepcopy(demo_reference)
    rescored['results'][multi]['poses'][1]['score'] += 0.02
    failures = compare_results(rescored, demo_reference).failures()
    assert any('pose score' in line for line in failures)


def test_cli_exit_status(reference_path, tmp_path, capsys):
    ref = reference_path / 'smoke' / 'mobilenet_float_050_s16_r257_single.json'
    assert main([str(ref), str(ref)]) == 0
    assert capsys.readouterr().out.startswith('PASS')
    other = reference_path / 'smoke' / 'mobilenet_float_050_s8_r257_single.json'
    assert main([str(other), str(ref)]) == 1
    bad = tmp_path / 'bad.json'
    bad.write_text('[]')
    assert main([str(bad), str(ref)]) == 2


def test_nothing_compared_is_not_a_pass(reference_path, capsys):
    """No reference of the weights' width, or 0 images: nothing shown, so no exit status 0."""
    shared = str(reference_path.parent)
    assert main(['--all', '--shared', shared, '--sets', 'smoke',
                 '--weights', 'mobilenet_quant1_100']) == 2
    assert 'nothing compared: no reference of smoke has the width of mobilenet_quant1_100' in \
        capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:
        main(['--all', '--shared', shared, '--limit', '0'])
    assert refused.value.code == 2
    assert '--limit: must be at least 1, got 0' in capsys.readouterr().err
