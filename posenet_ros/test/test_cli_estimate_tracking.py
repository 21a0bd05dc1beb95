"""posenet-estimate --track / --smooth on a video of people walking (synthetic 'crossing')."""
from __future__ import annotations

import numpy as np
from posenet_ros.engine.image_io import load_image_rgb
from posenet_ros.engine.results_json import pose_arrays, read_results
from posenet_ros.engine.tracking import PoseTracker
from posenet_ros.tools.estimate import main
import pytest
from synthetic_people import walking_sequence

pytestmark = pytest.mark.filterwarnings('ignore:__array__ implementation:DeprecationWarning')
RATE = 10


@pytest.fixture(scope='module')
def walking_video(data_path, tmp_path_factory):
    """Return the 'crossing' sequence as an MJPG .avi at 10 Hz (41 frames, two people)."""
    cv2 = pytest.importorskip('cv2')
    path = tmp_path_factory.mktemp('video') / 'crossing.avi'
    frames = walking_sequence(data_path, 'crossing')
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), RATE, (640, 480))
    for frame in frames:
        writer.write(cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


@pytest.fixture(scope='module')
def models_env(models_path):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv('POSENET_MODELS', str(models_path))
        yield models_path


OPTIONS = ['--resolution', '353x481', '--max-detections', '10', '--score-threshold', '0.1',
           '--nms-radius', '30', '--quiet']


def test_track_ids_in_the_json_are_the_trackers(models_env, walking_video, tmp_path):
    """
    Every pose has a track_id, the one PoseTracker gives.

    The two walkers keep ids 1 and 2 through the video, and they are what PoseTracker gives for
    the poses scoring 0.35 or more (what the node publishes) stamped frame / rate; lower-scoring
    poses have 0.
    """
    out = tmp_path / 'tracked.json'
    drawn = tmp_path / 'drawn'
    assert main([str(walking_video), '--track', '--json', str(out), '--draw', str(drawn)]
                + OPTIONS) == 0
    document = read_results(out)
    assert document['config']['tracking']['smooth'] is False
    assert document['config']['tracking']['min_hits'] == 3
    assert document['config']['tracking']['min_pose_score'] == 0.35
    results = document['results']
    assert len(results) == 41
    assert all('track_id' in pose for r in results for pose in r['poses'])
    tracker = PoseTracker()
    for index, result in enumerate(results):
        published = [pose for pose in result['poses'] if pose['score'] >= 0.35]
        arrays = [pose_arrays(pose) for pose in published]
        coords = np.array([a[1] for a in arrays]).reshape(-1, 17, 2)
        scores = np.array([a[2] for a in arrays]).reshape(-1, 17)
        expected = tracker.update(coords, scores, index / RATE).tolist()
        assert [pose['track_id'] for pose in published] == expected
        assert all(pose['track_id'] == 0 for pose in result['poses'] if pose['score'] < 0.35)
    confirmed = {pose['track_id'] for r in results for pose in r['poses'] if pose['track_id']}
    assert confirmed == {1, 2}
    assert len(list(drawn.iterdir())) == 41
    picture = load_image_rgb(drawn / 'crossing_000020.jpg')
    assert picture.shape == (480, 640, 3)


def test_smoothing_keeps_the_ids_and_moves_keypoints_a_little(
        models_env, walking_video, tmp_path):
    plain, smooth = tmp_path / 'plain.json', tmp_path / 'smooth.json'
    assert main([str(walking_video), '--track', '--json', str(plain)] + OPTIONS) == 0
    assert main([str(walking_video), '--smooth', '--json', str(smooth)] + OPTIONS) == 0
    raw, smoothed = read_results(plain)['results'], read_results(smooth)['results']
    assert read_results(smooth)['config']['tracking']['smooth'] is True
    moves = []
    for a, b in zip(raw, smoothed):
        assert [p['track_id'] for p in a['poses']] == [p['track_id'] for p in b['poses']]
        for pa, pb in zip(a['poses'], b['poses']):
            if pa['track_id']:
                moves.append(np.abs(pose_arrays(pa)[1] - pose_arrays(pb)[1]).max())
            else:  # not tracked: left as estimated
                assert pose_arrays(pa)[1].tolist() == pose_arrays(pb)[1].tolist()
    assert len(moves) >= 70
    assert 0 < np.median(moves) < 10


def test_bad_tracking_options_exit_2(models_env, data_path, capsys):
    for options, message in ((['--track-min-hits', '0'], 'min_hits'),
                             (['--track-max-age', '-1'], 'max_age'),
                             (['--track-min-pose-score', '2'], 'min-pose-score')):
        with pytest.raises(SystemExit) as exit_info:
            main([str(data_path / 'smoke' / 'bus.jpg'), '--track'] + options)
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err


def test_the_same_video_listed_twice_is_tracked_twice_from_the_start(
        models_env, walking_video, tmp_path):
    """Its frames start over: the second pass is a new run of the tracker, not time going back."""
    out = tmp_path / 'twice.json'
    assert main([str(walking_video), str(walking_video), '--track', '--json', str(out)]
                + OPTIONS) == 0
    results = read_results(out)['results']
    assert len(results) == 82
    first = [[pose['track_id'] for pose in r['poses']] for r in results[:41]]
    second = [[pose['track_id'] for pose in r['poses']] for r in results[41:]]
    # The same poses again: the same pattern of tentative and confirmed, with new ids.
    assert [[i > 0 for i in ids] for ids in second] == [[i > 0 for i in ids] for ids in first]
    assert {i for ids in second for i in ids if i} == {3, 4}
