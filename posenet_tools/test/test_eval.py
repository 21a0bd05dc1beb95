"""posenet_eval: COCO keypoint AP from results files, and of our estimator beside the original."""
from __future__ import annotations

import json

from posenet_ros.engine.results_json import read_results
from posenet_tools import eval as coco_eval
import pytest

# COCO keypoint AP of the original's outputs on annotations_val2017.json, as the reference's
# README states them (multi-pose, max 10, score 0.1, NMS 30; stride 8 with dilations as trained).
REFERENCE_AP = {
    'mobilenet_quant2_075_s16_r353x481_multi_demo.json': 0.196,
    'mobilenet_quant2_075_s8_r353x481_multi_demo.json': 0.216,
}


@pytest.fixture(scope='module')
def annotations(data_path):
    return data_path / 'coco_kpts' / 'annotations_val2017.json'


@pytest.fixture(scope='module')
def ground_truth(annotations):
    return coco_eval.load_annotations(annotations)


@pytest.mark.parametrize('name', sorted(REFERENCE_AP))
def test_reproduces_the_originals_published_ap(name, reference_path, ground_truth):
    scores, missing = coco_eval.evaluate_results(
        read_results(reference_path / 'coco' / name), ground_truth)
    assert missing == []
    assert scores.images == 44
    assert round(scores.ap, 3) == REFERENCE_AP[name]
    assert 0.0 < scores.ap < scores.ap50 <= 1.0


def test_only_annotated_images_are_scored(reference_path, ground_truth):
    data = read_results(
        reference_path / 'coco' / 'mobilenet_quant2_075_s16_r353x481_multi_demo.json')
    annotated = set(ground_truth.getImgIds())
    assert len(data['results']) > len(annotated)  # the file covers train2017 photos too
    detections = coco_eval.to_coco_detections(data['results'], annotated)
    assert {d['image_id'] for d in detections} <= annotated
    assert len(detections) == sum(len(r['poses']) for r in data['results'] if r['id'] in annotated)
    first = next(r for r in data['results'] if r['id'] in annotated and r['poses'])
    expected = [v for k in first['poses'][0]['keypoints'] for v in (k['x'], k['y'], k['score'])]
    index = [d['image_id'] for d in detections].index(first['id'])
    assert detections[index]['keypoints'] == expected


def test_images_without_results_count_as_misses(reference_path, ground_truth, tmp_path, capsys):
    data = read_results(
        reference_path / 'coco' / 'mobilenet_quant2_075_s16_r353x481_multi_demo.json')
    full, _ = coco_eval.evaluate_results(data, ground_truth)
    kept = [r for r in data['results'] if r['id'] % 2 == 0]
    partial = tmp_path / 'partial.json'
    partial.write_text(json.dumps({**data, 'results': kept}))
    scores, missing = coco_eval.evaluate_results(read_results(partial), ground_truth)
    assert missing and scores.ap < full.ap
    assert coco_eval.main(['--results', str(partial)]) == 0
    assert f'no entry for {len(missing)} of the 44 annotated images' in capsys.readouterr().err


def test_finds_the_stored_reference_for_each_configuration(reference_path):
    for path in sorted((reference_path / 'coco').glob('*.json')):
        config = json.loads(path.read_text())['config']
        assert coco_eval.find_reference(config, reference_path / 'coco') == path
    reference = next((reference_path / 'coco').glob('*s16_r353x481*'))
    config = json.loads(reference.read_text())['config']
    assert coco_eval.find_reference({**config, 'nms': 25}, reference_path / 'coco') is None


def test_cli_prints_ap_beside_the_original_and_writes_json(reference_path, annotations, tmp_path,
                                                           capsys):
    name = 'mobilenet_quant2_075_s8_r353x481_multi_demo.json'
    out = tmp_path / 'scores.json'
    code = coco_eval.main(['--results', str(reference_path / 'coco' / name),
                           '--annotations', str(annotations), '--json-out', str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    row = next(line for line in printed.splitlines() if name[-30:] in line)
    assert row.split()[1] == f'{REFERENCE_AP[name]:.3f}'   # AP
    assert row.split()[-1] == f'{REFERENCE_AP[name]:.3f}'  # the original's AP, same file
    report = json.loads(out.read_text())
    assert round(report[0]['scores']['ap'], 3) == REFERENCE_AP[name]


@pytest.mark.parametrize('content, message', [
    ('{"results": [', 'not JSON'),
    ('{"poses": []}', '"results" list'),
    ('{"results": [{"id": 1, "width": 2, "height": 2, "poses": [{"score": 1, "keypoints": []}]}]}',
     'expected 17 keypoints'),
])
def test_bad_results_file_gets_a_clear_message(content, message, tmp_path, annotations, capsys):
    bad = tmp_path / 'bad.json'
    bad.write_text(content)
    out = tmp_path / 'scores.json'
    code = coco_eval.main(['--results', str(bad), '--annotations', str(annotations),
                           '--json-out', str(out)])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_missing_annotation_file_is_reported(tmp_path, reference_path, capsys):
    code = coco_eval.main(['--results', str(next((reference_path / 'coco').glob('*.json'))),
                           '--annotations', str(tmp_path / 'nope.json')])
    assert code == 2
    assert 'annotation file not found' in capsys.readouterr().err


def test_run_scores_our_estimator_beside_the_original(models_path, annotations, monkeypatch,
                                                      tmp_path, capsys):
    """Our estimator on the 44 photos: same AP as the original at the same configuration."""
    monkeypatch.setenv('POSENET_MODELS', str(models_path))
    saved = tmp_path / 'ours.json'
    report = tmp_path / 'scores.json'
    code = coco_eval.main(['--run', '--model', 'mobilenet_quant2_075', '--stride', '16',
                           '--resolution', '353x481', '--mode', 'multi', '--quiet',
                           '--annotations', str(annotations), '--save-results', str(saved),
                           '--json-out', str(report)])
    assert code == 0, capsys.readouterr().err
    scores = json.loads(report.read_text())[0]
    assert scores['original_ap'] == pytest.approx(
        REFERENCE_AP['mobilenet_quant2_075_s16_r353x481_multi_demo.json'], abs=5e-4)
    assert scores['scores']['ap'] == pytest.approx(scores['original_ap'], abs=0.002)
    assert len(read_results(saved)['results']) == 44
    assert 'median estimate time' in capsys.readouterr().out


def test_options_beyond_the_original_are_scored_beside_it(models_path, annotations, monkeypatch,
                                                          tmp_path, capsys):
    """
    An input shaped like each photo scores above the original and records its options.

    An input shaped like each photo (no padding, same pixel budget) scores above the original,
    and the run records which options it used.
    """
    monkeypatch.setenv('POSENET_MODELS', str(models_path))
    report = tmp_path / 'scores.json'
    code = coco_eval.main(['--run', '--model', 'mobilenet_quant2_075', '--stride', '16',
                           '--resolution', '353x481', '--match-aspect-ratio', '--backend',
                           'function', '--quiet', '--annotations', str(annotations),
                           '--json-out', str(report)])
    assert code == 0, capsys.readouterr().err
    scores = json.loads(report.read_text())[0]
    assert scores['config']['options'] == {'match_aspect_ratio': True}
    assert scores['original_ap'] == pytest.approx(
        REFERENCE_AP['mobilenet_quant2_075_s16_r353x481_multi_demo.json'], abs=5e-4)
    assert scores['scores']['ap'] > scores['original_ap'] + 0.01
    assert 'match_aspect_ratio=True' in capsys.readouterr().out


def test_bad_run_option_gets_a_clear_message(annotations, capsys):
    code = coco_eval.main(['--run', '--pose-score-keypoints', '0', '--annotations',
                           str(annotations)])
    assert code == 2
    assert 'pose_score_keypoints' in capsys.readouterr().err
