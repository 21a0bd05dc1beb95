"""
One-Euro smoothing of tracked keypoints: the filter's own rules, then jitter and lag.

Jitter on a still photo streamed with noise and lag on people walking (real estimator,
synthetic_people sequences).
"""
from __future__ import annotations

import math

import numpy as np
from posenet_ros.engine.smoothing import OneEuroConfig, OneEuroSmoother, smoothing_factor
from posenet_ros.engine.tracking import PoseTracker, TrackerConfig
import pytest
from synthetic_people import coco_photo, estimate_config, estimated_sequence, estimator

pytestmark = pytest.mark.filterwarnings('ignore:__array__ implementation:DeprecationWarning')


def test_first_value_passes_then_a_still_signal_stays_put():
    smoother = OneEuroSmoother()
    values = np.arange(17 * 2, dtype=float).reshape(1, 17, 2)
    valid = np.ones((1, 17), bool)
    for i in range(5):
        np.testing.assert_allclose(smoother.smooth([1], values, valid, 0.1 * i), values)


def test_at_rest_it_is_cutoff_low_pass():
    """
    With beta = 0 the filter is a low-pass of the minimum cutoff.

    One step of dt moves a fraction 1 / (1 + tau / dt) towards the new value,
    tau = 1 / (2 pi min_cutoff).
    """
    smoother = OneEuroSmoother(OneEuroConfig(min_cutoff=2.0, beta=0.0))
    valid = np.ones((1, 17), bool)
    smoother.smooth([3], np.zeros((1, 17, 3)), valid, 0.0)
    out = smoother.smooth([3], np.ones((1, 17, 3)), valid, 0.05)
    alpha = 1.0 / (1.0 + 1.0 / (2 * math.pi * 2.0) / 0.05)
    np.testing.assert_allclose(out, alpha)
    assert smoothing_factor(2.0, 0.05) == pytest.approx(alpha)


def test_tracks_never_mix_and_a_new_track_starts_fresh():
    smoother = OneEuroSmoother(OneEuroConfig(min_cutoff=1.0, beta=0.0))
    valid = np.ones((2, 17), bool)
    values = np.stack([np.zeros((17, 2)), np.full((17, 2), 100.0)])
    smoother.smooth([1, 2], values, valid, 0.0)
    out = smoother.smooth([2, 1], values, valid, 0.1)  # order swapped: each keeps its own state
    alpha = smoothing_factor(1.0, 0.1)
    np.testing.assert_allclose(out[0], 100.0 * (1.0 - alpha))  # track 2 was at 100, sees 0
    np.testing.assert_allclose(out[1], 100.0 * alpha)  # track 1 was at 0, sees 100
    fresh = smoother.smooth([7], np.full((1, 17, 2), 55.0), np.ones((1, 17), bool), 0.2)
    np.testing.assert_allclose(fresh, 55.0)


def test_missing_keypoints_leave_their_state_untouched():
    """
    A keypoint missing (NaN or not valid) in a frame comes out missing.

    The next time it is seen it is filtered exactly as if that frame had never been.
    """
    rng = np.random.default_rng(0)
    series = rng.normal(100.0, 3.0, (8, 1, 17, 2))
    stamps = np.arange(8) * 0.05
    reference, gappy = OneEuroSmoother(), OneEuroSmoother()
    valid = np.ones((1, 17), bool)
    for i in range(8):
        if i not in (3, 4):
            expected = reference.smooth([1], series[i], valid, stamps[i])
        values, mask = series[i].copy(), valid.copy()
        if i == 3:
            values[0, 5] = np.nan
        if i == 4:
            mask[0, 5] = False
        out = gappy.smooth([1], values, mask, stamps[i])
        if i in (3, 4):
            assert np.isnan(out[0, 5]).all()
            continue
        np.testing.assert_allclose(out[0, 5], expected[0, 5])


def test_untracked_people_pass_through_and_old_tracks_are_forgotten():
    smoother = OneEuroSmoother(OneEuroConfig(forget_after=1.0))
    values = np.full((2, 17, 2), 4.0)
    out = smoother.smooth([0, 9], values, np.ones((2, 17), bool), 0.0)
    np.testing.assert_allclose(out, values)
    assert smoother.tracked_ids == [9]
    smoother.smooth([], np.zeros((0, 17, 2)), np.zeros((0, 17), bool), 2.0)
    assert smoother.tracked_ids == []


@pytest.mark.parametrize('changes, message', [
    ({'min_cutoff': 0.0}, 'min_cutoff'), ({'beta': -1.0}, 'beta'),
    ({'d_cutoff': float('inf')}, 'd_cutoff'), ({'forget_after': 0.0}, 'forget_after'),
])
def test_bad_parameters_are_refused_with_a_reason(changes, message):
    with pytest.raises(ValueError, match=message):
        OneEuroSmoother(OneEuroConfig(**changes))


def smooth_track(poses_per_frame, stamps, config=OneEuroConfig()):
    """Track and smooth: per frame (ids, raw coords, smoothed coords)."""
    tracker, smoother = PoseTracker(TrackerConfig(min_hits=1)), OneEuroSmoother(config)
    out = []
    for poses, stamp in zip(poses_per_frame, stamps):
        poses = [p for p in poses if p.score >= 0.35]
        coords = np.array([p.keypoint_coords for p in poses]).reshape(-1, 17, 2)
        scores = np.array([p.keypoint_scores for p in poses]).reshape(-1, 17)
        ids = tracker.update(coords, scores, stamp)
        out.append((ids, coords, smoother.smooth(ids, coords, scores >= 0.2, stamp)))
    return out


@pytest.mark.filterwarnings('ignore:Degrees of freedom:RuntimeWarning')  # keypoints never seen
def test_jitter_of_a_still_person_is_reduced(models_path, data_path):
    """
    A still photo streamed at 30 Hz with sensor noise: the keypoints' jitter at least halves.

    Jitter: frame to frame, the median over keypoints of the standard deviation of position.
    """
    image = coco_photo(data_path, 139)
    rng = np.random.default_rng(3)
    model, config = estimator(models_path), estimate_config()
    poses = []
    for _ in range(40):
        noisy = np.clip(image + rng.normal(0, 4.0, image.shape), 0, 255).astype(np.uint8)
        poses.append(model.estimate(noisy, config).poses)
    frames = smooth_track(poses, np.arange(40) / 30.0)
    first_id = next(int(i) for i in frames[0][0] if i > 0)
    raw = np.array([c[list(ids).index(first_id)] for ids, c, _ in frames if first_id in ids])
    smoothed = np.array([s[list(ids).index(first_id)] for ids, _, s in frames if first_id in ids])
    assert len(raw) >= 35
    settle = 10  # the filter starts at the first value; judge once it has run a while
    jitter_raw = np.nanmedian(np.linalg.norm(np.nanstd(raw[settle:], axis=0), axis=1))
    jitter_smoothed = np.nanmedian(np.linalg.norm(np.nanstd(smoothed[settle:], axis=0), axis=1))
    print(f'\nstill photo jitter: raw {jitter_raw:.2f} px, smoothed {jitter_smoothed:.2f} px')
    assert jitter_raw > 0.2  # the noise does move the keypoints
    assert jitter_smoothed <= 0.5 * jitter_raw


def test_lag_on_walking_people_stays_small(models_path, data_path):
    """
    Smoothed keypoints of people walking trail the truth by at most 4 px on average.

    People walking at 110-120 px/s, 10 Hz: smoothed keypoints trail the truth along the
    direction of motion by at most 4 px on average, and are no further from it than raw.
    """
    frames, poses = estimated_sequence(models_path, data_path, 'crossing')
    results = smooth_track(poses, [f.stamp for f in frames])
    lags, raw_errors, smoothed_errors = [], [], []
    for frame, (ids, raw, smoothed) in zip(frames[3:], results[3:]):
        for truth, identity in zip(frame.keypoints, frame.identities):
            if not len(raw):
                continue
            distance = np.nanmean(np.linalg.norm(raw - truth, axis=2), axis=1)
            row = int(np.nanargmin(distance))
            if distance[row] > 20:
                continue
            direction = 1.0 if identity == 0 else -1.0  # walker 0 goes right, walker 1 left
            shown = np.isfinite(smoothed[row]).all(axis=1) & np.isfinite(truth).all(axis=1)
            lags.append(np.mean((truth[shown, 0] - smoothed[row, shown, 0]) * direction))
            raw_errors.append(np.median(np.linalg.norm(raw[row, shown] - truth[shown], axis=1)))
            smoothed_errors.append(np.median(np.linalg.norm(smoothed[row, shown] - truth[shown],
                                                            axis=1)))
    lag = float(np.mean(lags))
    print(f'\nwalking: lag {lag:.2f} px, median error raw {np.mean(raw_errors):.2f} px, '
          f'smoothed {np.mean(smoothed_errors):.2f} px over {len(lags)} poses')
    assert len(lags) >= 60
    assert lag <= 4.0
    assert np.mean(smoothed_errors) <= np.mean(raw_errors) + 1.0
