"""One-Euro filtering of every keypoint of every tracked person (Casiez, Roussel, Vogel, CHI 2012).

A low-pass filter whose cutoff rises with speed: a still person's jitter is smoothed away
(cutoff `min_cutoff` Hz), a moving person is followed with little lag (cutoff grows by `beta`
per unit of speed, speed itself low-passed at `d_cutoff` Hz). One filter state per track id and
keypoint, in pixels or in metres (the same code; the units set what `beta` means). Time comes from
the frames' stamps, so dropped frames are handled. A keypoint missing in a frame (NaN or not
valid) is passed through as missing and leaves its state untouched; a new track id starts fresh
states, and states of ids no longer seen are forgotten, so tracks never mix. Id 0 (not tracked)
is passed through unfiltered.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OneEuroConfig:
    """min_cutoff (Hz): cutoff at rest, lower = less jitter, more lag. beta (per unit of speed,
    s/px or s/m): how fast the cutoff rises with speed. d_cutoff (Hz): cutoff of the speed
    estimate. forget_after (s): states of tracks unseen this long are dropped."""

    min_cutoff: float = 1.0
    beta: float = 0.05
    d_cutoff: float = 1.0
    forget_after: float = 5.0

    def check(self) -> 'OneEuroConfig':
        for name in ('min_cutoff', 'd_cutoff', 'forget_after'):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f'{name} must be a positive number, got {value!r}')
        if not (math.isfinite(self.beta) and self.beta >= 0):
            raise ValueError(f'beta must be a number >= 0, got {self.beta!r}')
        return self


def smoothing_factor(cutoff_hz, elapsed_s):
    """Exponential smoothing weight of a new sample for a first-order low-pass at `cutoff_hz`."""
    tau = 1.0 / (2.0 * np.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / elapsed_s)


class _TrackState:
    __slots__ = ('value', 'speed', 'stamp', 'seen')

    def __init__(self, shape: tuple[int, int]):
        self.value = np.full(shape, np.nan)  # filtered value per keypoint
        self.speed = np.zeros(shape)  # filtered derivative per keypoint
        self.stamp = np.full(shape[0], np.nan)  # when each keypoint was last filtered
        self.seen = -np.inf  # last stamp the track was seen at all


class OneEuroSmoother:
    """Filters (N, K, D) keypoints of tracked people frame by frame (K keypoints, D = 2 or 3)."""

    def __init__(self, config: OneEuroConfig = OneEuroConfig()):
        self.config = config.check()
        self._states: dict[int, _TrackState] = {}

    def reset(self) -> None:
        self._states.clear()

    @property
    def tracked_ids(self) -> list[int]:
        return sorted(self._states)

    def smooth(self, track_ids, values, valid, stamp: float) -> np.ndarray:
        """Filtered copy of `values` (N, K, D) for people with `track_ids` (N,) at `stamp` (s).

        `valid` (N, K) marks the keypoints measured in this frame; the others (and NaN ones) come
        out as NaN. A stamp not later than a keypoint's last one leaves that keypoint's state as it
        was and returns the filtered value it has.
        """
        stamp = float(stamp)
        if not math.isfinite(stamp):
            raise ValueError(f'stamp must be a finite number of seconds, got {stamp!r}')
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 3:
            raise ValueError(f'values must be (people, keypoints, dims), got {values.shape}')
        track_ids = np.asarray(track_ids, dtype=np.int64).reshape(-1)
        if track_ids.shape[0] != values.shape[0]:
            raise ValueError(f'{track_ids.shape[0]} track ids for {values.shape[0]} people')
        valid = np.asarray(valid, dtype=bool) & np.isfinite(values).all(axis=2)
        out = np.where(valid[..., None], values, np.nan)
        for row, track_id in enumerate(track_ids.tolist()):
            if track_id <= 0:
                continue
            state = self._states.get(track_id)
            if state is None or state.value.shape != values.shape[1:]:
                state = self._states[track_id] = _TrackState(values.shape[1:])
            out[row] = self._filter(state, values[row], valid[row], stamp)
            state.seen = max(state.seen, stamp)
        horizon = stamp - self.config.forget_after
        for track_id in [i for i, s in self._states.items() if s.seen < horizon]:
            del self._states[track_id]
        return out

    def _filter(self, state: _TrackState, value: np.ndarray, valid: np.ndarray, stamp: float
                ) -> np.ndarray:
        config = self.config
        fresh = valid & np.isnan(state.stamp)
        elapsed = stamp - state.stamp
        step = valid & ~fresh & (elapsed > 0)
        stale = valid & ~fresh & ~step  # same or older stamp: keep the state, report it
        state.value[fresh] = value[fresh]
        state.speed[fresh] = 0.0
        state.stamp[fresh] = stamp
        if step.any():
            dt = elapsed[step][:, None]
            previous = state.value[step]
            raw_speed = (value[step] - previous) / dt
            speed = state.speed[step] + smoothing_factor(config.d_cutoff, dt) * (
                raw_speed - state.speed[step])
            cutoff = config.min_cutoff + config.beta * np.linalg.norm(speed, axis=1,
                                                                       keepdims=True)
            state.value[step] = previous + smoothing_factor(cutoff, dt) * (value[step] - previous)
            state.speed[step] = speed
            state.stamp[step] = stamp
        result = np.full(value.shape, np.nan)
        shown = fresh | step | stale
        result[shown] = state.value[shown]
        return result
