"""
The accuracy study: the options beyond the original raise COCO AP above the original's.

Above the original's own reference outputs, each alone and more together (what
docs/accuracy.md reports).
"""
from __future__ import annotations

import json

from posenet_ros.engine.results_json import read_results
from posenet_tools import accuracy_study
from posenet_tools.eval import evaluate_results, load_annotations
import pytest

MODEL = 'mobilenet_quant2_075'
REFERENCE = f'{MODEL}_s16_r353x481_multi_demo.json'


def test_options_raise_coco_ap_above_the_original(models_path, data_path, reference_path,
                                                  tmp_path, monkeypatch):
    """
    Every option alone beats the original, and the options add up.

    accuracy_study --quick: every option alone beats the original's own reference output on
    the 44 val2017 photos, and the options add up.
    """
    monkeypatch.setenv('POSENET_MODELS', str(models_path))
    annotations = data_path / 'coco_kpts' / 'annotations_val2017.json'
    out = tmp_path / 'study.json'
    assert accuracy_study.main(['--quick', '--repeats', '0', '--quiet', '--annotations',
                                str(annotations), '--out', str(out)]) == 0
    rows = {row['options']: row for row in json.loads(out.read_text())['rows']}
    original = evaluate_results(read_results(reference_path / 'coco' / REFERENCE),
                                load_annotations(annotations))[0].ap
    assert rows['original']['ap'] == pytest.approx(original, abs=0.002)
    for single in ('aspect', 'flip', 'refine', 'score'):
        assert rows[single]['ap'] > original + 0.005, single
    assert rows['cheap']['ap'] > max(rows[n]['ap'] for n in ('aspect', 'refine', 'score'))
    assert rows['all']['ap'] > rows['cheap']['ap']
