"""
One-Euro filtering of every keypoint of every tracked person (Casiez, Roussel, Vogel, CHI 2012).

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

from dataclasses import dataclass
import math

import numpy as np

from .array_ops import all_finite, norm_of_last


@dataclass(frozen=True)
class OneEuroConfig:
    """
    min_cutoff (Hz): cutoff at rest, lower = less jitter, more lag.

    beta (per unit of speed,
    s/px or s/m): how fast the cutoff rises with speed. d_cutoff (Hz): cutoff of the speed
    estimate. forget_after (s): states of tracks unseen this long are dropped.
    """

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


# Measured defaults (docs/people3d.md, `posenet_bench_people --smoothing`).
# Pixels: a still person's jitter 1.54 -> 0.54 px, lag 1.9 px at 120 px/s (30 Hz).
PIXEL_DEFAULTS = OneEuroConfig(min_cutoff=1.0, beta=0.05, d_cutoff=1.0)
# Metres: beta scaled by about 200 px per metre (3 m from a 600 px focal length); a still
# person's 3D jitter 10.4 -> 4.1 mm with 1% depth noise, lag 11 mm at 1 m/s (30 Hz).
METRE_DEFAULTS = OneEuroConfig(min_cutoff=1.0, beta=10.0, d_cutoff=1.0)


def smoothing_factor(cutoff_hz, elapsed_s):
    """Exponential smoothing weight of a new sample for a first-order low-pass at `cutoff_hz`."""
    tau = 1.0 / (2.0 * np.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / elapsed_s)


class OneEuroSmoother:
    """
    Filters (N, K, D) keypoints of tracked people frame by frame (K keypoints, D = 2 or 3).

    State is kept as arrays with one row per track id, so a frame is filtered in one pass.
    """

    def __init__(self, config: OneEuroConfig = OneEuroConfig()):
        self.config = config.check()
        self.reset()

    def reset(self) -> None:
        self._rows: dict[int, int] = {}
        self._value = None  # (R, K, D) filtered value per track row and keypoint
        self._speed = None  # (R, K, D) filtered derivative
        self._stamp = None  # (R, K) when each keypoint was last filtered (NaN: never)
        self._seen = np.zeros(0)  # (R,) last stamp each track was seen at all

    @property
    def tracked_ids(self) -> list[int]:
        return sorted(self._rows)

    def smooth(self, track_ids, values, valid, stamp: float) -> np.ndarray:
        """
        Return a filtered copy of `values` (N, K, D) of people `track_ids` (N,) at `stamp` (s).

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
        tracked = track_ids > 0
        ids = track_ids[tracked].tolist()
        if len(set(ids)) != len(ids):
            raise ValueError(f'a track id repeats within one frame: {track_ids.tolist()}')
        valid = np.asarray(valid, dtype=bool) & all_finite(values)
        if ids:
            if self._value is not None and self._value.shape[1:] != values.shape[1:]:
                self.reset()
            rows = self._rows_for(ids, values.shape[1:])
            if len(ids) == values.shape[0]:  # everyone tracked (the usual case)
                out = self._filter(rows, values, valid, stamp)
            else:
                out = np.where(valid[..., None], values, np.nan)
                out[tracked] = self._filter(rows, values[tracked], valid[tracked], stamp)
            self._seen[rows] = np.maximum(self._seen[rows], stamp)
        else:
            out = np.where(valid[..., None], values, np.nan)
        self._forget(stamp - self.config.forget_after)
        return out

    def _rows_for(self, ids: list[int], shape: tuple[int, int]) -> np.ndarray:
        new = [i for i in ids if i not in self._rows]
        if new:
            first = len(self._rows)
            for offset, track_id in enumerate(new):
                self._rows[track_id] = first + offset
            count = len(new)
            if self._value is None:
                self._value = np.zeros((0, *shape))
                self._speed = np.zeros((0, *shape))
                self._stamp = np.zeros((0, shape[0]))
            self._value = np.concatenate([self._value, np.full((count, *shape), np.nan)])
            self._speed = np.concatenate([self._speed, np.zeros((count, *shape))])
            self._stamp = np.concatenate([self._stamp, np.full((count, shape[0]), np.nan)])
            self._seen = np.concatenate([self._seen, np.full(count, -np.inf)])
        return np.array([self._rows[i] for i in ids], dtype=np.int64)

    def _forget(self, horizon: float) -> None:
        stale = self._seen < horizon
        if not stale.any():
            return
        keep = ~stale
        order = sorted(self._rows.items(), key=lambda item: item[1])
        self._rows = {}
        for track_id, row in order:
            if keep[row]:
                self._rows[track_id] = len(self._rows)
        self._value, self._speed = self._value[keep], self._speed[keep]
        self._stamp, self._seen = self._stamp[keep], self._seen[keep]

    def _filter(self, rows: np.ndarray, value: np.ndarray, valid: np.ndarray, stamp: float
                ) -> np.ndarray:
        config = self.config
        state_value, state_speed = self._value[rows], self._speed[rows]
        state_stamp = self._stamp[rows]
        fresh = valid & np.isnan(state_stamp)
        elapsed = stamp - state_stamp
        step = valid & ~fresh & (elapsed > 0)
        # valid & not fresh & not step: the same or an older stamp; the state stands.
        if step.any():
            # Every keypoint is filtered at once and only the stepped ones are kept: the others
            # may divide by a zero or NaN time step.
            with np.errstate(divide='ignore', invalid='ignore', over='ignore'):
                dt = elapsed[..., None]
                raw_speed = (value - state_value) / dt
                speed = state_speed + smoothing_factor(config.d_cutoff, dt) * (
                    raw_speed - state_speed)
                cutoff = config.min_cutoff + config.beta * norm_of_last(speed)
                filtered = state_value + smoothing_factor(cutoff, dt) * (value - state_value)
            state_value = np.where(step[..., None], filtered, state_value)
            state_speed = np.where(step[..., None], speed, state_speed)
        if fresh.any():
            state_value = np.where(fresh[..., None], value, state_value)
            state_speed = np.where(fresh[..., None], 0.0, state_speed)
        state_stamp = np.where(fresh | step, stamp, state_stamp)
        self._value[rows], self._speed[rows], self._stamp[rows] = (state_value, state_speed,
                                                                   state_stamp)
        return np.where(valid[..., None], state_value, np.nan)
