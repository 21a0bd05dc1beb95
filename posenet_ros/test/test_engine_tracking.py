"""
PoseTracker: persistent ids, on hand-made poses and on sequences of known truth.

The sequences are run through the real estimator (people cut from COCO photos walking,
crossing, hiding and leaving; see synthetic_people.walking_sequence), scored with motmetrics
(IDF1, MOTA, identity switches).
"""
from __future__ import annotations

import numpy as np
from posenet_ros.engine.tracking import (box_areas, COCO_SIGMAS, pose_similarity, PoseTracker,
                                         TrackerConfig)
import pytest
from synthetic_people import estimated_sequence, tracking_metrics

# pycocotools decodes masks through an __array__ without NumPy 2's copy keyword.
pytestmark = pytest.mark.filterwarnings('ignore:__array__ implementation:DeprecationWarning')

# A standing person's keypoints, about 200 px tall, feet at the origin (x right, y down).
BODY = np.array([
    [0, -190], [-6, -196], [6, -196], [-14, -192], [14, -192], [-30, -160], [30, -160],
    [-40, -120], [40, -120], [-44, -85], [44, -85], [-18, -90], [18, -90], [-20, -45],
    [20, -45], [-20, 0], [20, 0]], dtype=np.float64)
SCORES = np.full(17, 0.9)


def frame(*positions):
    """Poses of people standing at `positions` (feet, pixels): (N, 17, 2), (N, 17)."""
    coords = np.array([BODY + position for position in positions]).reshape(-1, 17, 2)
    return coords, np.tile(SCORES, (len(positions), 1))


def test_ids_start_at_one_after_min_hits_and_persist():
    tracker = PoseTracker(TrackerConfig(min_hits=3))
    seen = [tracker.update(*frame((100 + 10 * i, 400), (500 - 10 * i, 400)), 0.1 * i).tolist()
            for i in range(6)]
    assert seen[0] == [0, 0] and seen[1] == [0, 0]
    assert seen[2] == [1, 2]
    assert all(ids == [1, 2] for ids in seen[2:])
    assert tracker.ids_issued == 2


def test_min_hits_one_gives_ids_at_once():
    tracker = PoseTracker(TrackerConfig(min_hits=1))
    assert tracker.update(*frame((100, 400)), 0.0).tolist() == [1]


def test_order_of_poses_does_not_matter():
    tracker = PoseTracker(TrackerConfig(min_hits=1))
    first = tracker.update(*frame((100, 400), (400, 400)), 0.0)
    second = tracker.update(*frame((405, 400), (105, 400)), 0.1)
    assert second.tolist() == first[::-1].tolist()


def test_a_track_coasts_through_dropped_frames_within_max_age():
    """
    Prediction is time-based: a track coasts through dropped frames up to max_age.

    After 0.8 s without frames (dropped), a person who kept walking is matched at the predicted
    place; a person unseen for longer than max_age gets a new id.
    """
    tracker = PoseTracker(TrackerConfig(min_hits=1, max_age=1.0))
    for i in range(4):
        ids = tracker.update(*frame((100 + 150 * 0.1 * i, 400)), 0.1 * i)
    assert ids.tolist() == [1]
    # 0.8 s later at 150 px/s: 120 px further, far outside OKS range of the last pose.
    assert tracker.update(*frame((145 + 120, 400)), 1.1).tolist() == [1]
    assert tracker.update(*frame(), 1.5).tolist() == []
    assert tracker.update(*frame((325, 400)), 2.6).tolist() == [2]  # 1.5 s unseen: new id


def test_people_crossing_keep_their_ids_while_one_is_hidden():
    """
    Two people walk through each other and keep their ids.

    The one behind is not detected for 3 frames where they overlap. Motion prediction brings
    each back to its own track.
    """
    tracker = PoseTracker(TrackerConfig(min_hits=2))
    history = []
    for i in range(30):
        t = 0.1 * i
        right, left = (100 + 150 * t, 400), (540 - 150 * t, 405)
        hidden = abs(right[0] - left[0]) < 60
        coords, scores = frame(right) if hidden else frame(right, left)
        ids = tracker.update(coords, scores, t).tolist()
        history.append((ids[0], ids[1] if len(ids) > 1 else None))
    assert history[-1] == (1, 2)
    assert {right for right, _ in history[1:]} == {1}
    assert {left for _, left in history[1:]} - {None} == {2}
    assert tracker.ids_issued == 2


def test_ids_are_never_reused():
    tracker = PoseTracker(TrackerConfig(min_hits=1, max_age=0.2))
    issued = []
    for i in range(5):
        issued += tracker.update(*frame((100, 400)), i * 1.0).tolist()  # each time a new person
    assert issued == [1, 2, 3, 4, 5]
    tracker.reset()
    assert tracker.update(*frame((100, 400)), 0.0).tolist() == [6]


def test_low_scoring_keypoints_and_empty_poses_are_ignored():
    tracker = PoseTracker(TrackerConfig(min_hits=1, min_keypoint_score=0.5))
    coords, scores = frame((100, 400), (300, 400))
    scores[1] = 0.1  # a pose with no usable keypoint
    assert tracker.update(coords, scores, 0.0).tolist() == [1, 0]
    assert tracker.update(np.zeros((0, 17, 2)), np.zeros((0, 17)), 0.1).tolist() == []


def test_time_going_backwards_is_refused_with_a_reason():
    tracker = PoseTracker()
    tracker.update(*frame((100, 400)), 5.0)
    with pytest.raises(ValueError, match='before the previous frame'):
        tracker.update(*frame((100, 400)), 4.0)
    tracker.update(*frame((100, 400)), 5.0)  # the same stamp again is fine


@pytest.mark.parametrize('changes, message', [
    ({'min_hits': 0}, 'min_hits'), ({'min_hits': 1.5}, 'min_hits'),
    ({'max_age': 0.0}, 'max_age'), ({'max_age': float('nan')}, 'max_age'),
    ({'min_similarity': 0.0}, 'min_similarity'), ({'min_similarity': 1.5}, 'min_similarity'),
    ({'min_keypoint_score': -0.1}, 'min_keypoint_score'),
    ({'velocity_time_constant': 0.0}, 'velocity_time_constant'),
    ({'sigma_scale': 0.0}, 'sigma_scale'), ({'sigma_scale': float('inf')}, 'sigma_scale'),
])
def test_bad_parameters_are_refused_with_a_reason(changes, message):
    with pytest.raises(ValueError, match=message):
        PoseTracker(TrackerConfig(**changes))


def test_similarity_is_cocos_oks():
    """
    One keypoint off by d: OKS term exp(-d^2 / (2 s^2 (2 sigma)^2)), the rest 1.

    s^2 is the larger of the two keypoint-box areas.
    """
    coords, _ = frame((100, 400))
    moved = coords.copy()
    moved[0, 9, 0] += 12.0  # left wrist
    valid = np.ones((1, 17), dtype=bool)
    area = box_areas(coords, valid)
    similarity = pose_similarity(coords, valid, area, moved, valid, box_areas(moved, valid))
    scale = max(area[0], box_areas(moved, valid)[0])
    term = np.exp(-144.0 / (2 * scale * (2 * COCO_SIGMAS[9]) ** 2))
    assert similarity[0, 0] == pytest.approx((16 + term) / 17)
    wider = pose_similarity(coords, valid, area, moved, valid, box_areas(moved, valid), 2.0)
    assert wider[0, 0] == pytest.approx((16 + term ** 0.25) / 17)


def run_tracker(poses_per_frame, stamps, config=TrackerConfig(), min_pose_score=0.35):
    tracker = PoseTracker(config)
    ids, kept = [], []
    for poses, stamp in zip(poses_per_frame, stamps):
        poses = [p for p in poses if p.score >= min_pose_score]
        coords = np.array([p.keypoint_coords for p in poses]).reshape(-1, 17, 2)
        scores = np.array([p.keypoint_scores for p in poses]).reshape(-1, 17)
        ids.append(tracker.update(coords, scores, stamp))
        kept.append([p.keypoint_coords for p in poses])
    return kept, ids, tracker


def sequence_metrics(models_path, data_path, name, sizes=((353, 481),), keep=None):
    frames, poses = estimated_sequence(models_path, data_path, name, sizes)
    if keep is not None:
        frames = [f for f, k in zip(frames, keep) if k]
        poses = [p for p, k in zip(poses, keep) if k]
    kept, ids, tracker = run_tracker(poses, [f.stamp for f in frames])
    metrics = tracking_metrics(frames, kept, ids)
    metrics['ids_issued'] = tracker.ids_issued
    print(f'\n{name} sizes={sizes} frames={len(frames)}: '
          + ', '.join(f'{k} {v:.3f}' for k, v in metrics.items()))
    return metrics


def test_crossing_people_keep_their_identities(models_path, data_path):
    """Two people walk across each other, one hidden behind the other for a while."""
    metrics = sequence_metrics(models_path, data_path, 'crossing')
    assert metrics['num_switches'] == 0
    assert metrics['ids_issued'] == 2
    assert metrics['idf1'] >= 0.9
    assert metrics['mota'] >= 0.85


def test_leaving_hiding_and_coming_back(models_path, data_path):
    """
    One person leaves and comes back, another is hidden for a moment behind a third.

    The one leaving comes back 2 s later (a new id: that is one switch, nothing tells it is the
    same person).
    """
    metrics = sequence_metrics(models_path, data_path, 'leave_and_return')
    assert metrics['num_switches'] <= 1
    assert metrics['ids_issued'] <= 4
    assert metrics['idf1'] >= 0.8
    assert metrics['mota'] >= 0.8


def test_small_people_walking_close_together(models_path, data_path):
    """
    Four small people walking close together: the hardest case here.

    Four people 130-150 px tall, two pairs crossing and one overtaking another 40 px away (at one
    moment three overlap).
    """
    metrics = sequence_metrics(models_path, data_path, 'small_crowd')
    assert metrics['num_switches'] <= 1
    assert metrics['ids_issued'] <= 5
    assert metrics['idf1'] >= 0.72


def test_changing_input_sizes_and_dropped_frames(models_path, data_path):
    """
    Input size alternating frame by frame, and a third of the frames dropped at random.

    Sizes 353x481 and 257x353; time-based prediction bridges the gaps.
    """
    keep = np.random.default_rng(5).random(41) >= 1 / 3
    keep[:3] = True
    metrics = sequence_metrics(models_path, data_path, 'crossing',
                               sizes=((353, 481), (257, 353)), keep=tuple(keep))
    assert metrics['num_switches'] == 0
    assert metrics['ids_issued'] == 2
    assert metrics['idf1'] >= 0.85
