"""
Pinhole camera model from CameraInfo-like fields: pixels + depth to 3D points and back.

The fields are those of sensor_msgs/CameraInfo (width, height, distortion_model, D, K, R, P) as
plain lists, so the math runs without ROS; the ROS adapter copies a message's fields in. Points are
in the camera's optical frame (REP 103: x right, y down, z forward, metres).

Two kinds of image are served:
- a raw image: pixels are undistorted with K and D (`plumb_bob` and `rational_polynomial`
  through `cv2.undistortPoints`, `equidistant` through `cv2.fisheye.undistortPoints`; K alone
  where D is all zeros), giving points in the camera's own optical frame;
- a rectified image (`image_rect`): pixels follow P, giving points in the rectified optical
  frame (P's Tx, Ty, the stereo baseline terms, are not applied: the point is in this camera's
  frame).

Everything is vectorised: pixel arrays of any shape (..., 2), e.g. (people, 17, 2).
"""
from __future__ import annotations

from dataclasses import dataclass
import functools

import cv2
import numpy as np

from .array_ops import all_finite

DISTORTION_MODELS = ('plumb_bob', 'rational_polynomial', 'equidistant')
# Iterative undistortion to well below a thousandth of a pixel (OpenCV's default stops at 5
# iterations, which leaves pixels of error near the corners of wide lenses).
_UNDISTORT_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)


@dataclass(frozen=True)
class CameraModel:
    """
    A camera as CameraInfo describes it. Build it with `CameraModel.from_fields`.

    width, height: the image size the intrinsics belong to (pixels). K (3, 3), R (3, 3) and
    P (3, 4) are float64 arrays; D holds the distortion coefficients of `distortion_model`.
    """

    width: int
    height: int
    distortion_model: str
    D: np.ndarray
    K: np.ndarray
    R: np.ndarray
    P: np.ndarray

    @classmethod
    def from_fields(cls, width: int, height: int, K, D=(), distortion_model: str = 'plumb_bob',
                    R=None, P=None, roi=None) -> 'CameraModel':
        """
        Return a checked model from CameraInfo's fields (flat lists as in the message, or arrays).

        R defaults to the identity and P to [K | 0], as for a monocular camera. `roi`, CameraInfo's
        (x_offset, y_offset, width, height) in full-resolution pixels, makes the model that of
        the cropped image the camera then sends (all zeros, or the whole image: no crop; binning
        needs nothing here, `scaled` maps the smaller image). Raises ValueError naming the field
        that is wrong.
        """
        width, height = int(width), int(height)
        if width < 1 or height < 1:
            raise ValueError(f'camera image size must be positive, got {width}x{height}')
        if distortion_model not in DISTORTION_MODELS:
            raise ValueError(f'distortion_model {distortion_model!r} is not supported: use one of '
                             f'{", ".join(DISTORTION_MODELS)}')
        K = _matrix(K, (3, 3), 'K')
        if not (K[0, 0] > 0 and K[1, 1] > 0):
            raise ValueError(f'K must have positive focal lengths, got fx={K[0, 0]}, fy={K[1, 1]}')
        D = np.asarray(D, dtype=np.float64).reshape(-1)
        if not np.isfinite(D).all():
            raise ValueError('D holds non-finite values')
        if distortion_model == 'equidistant' and D.size not in (0, 4):
            raise ValueError(f'equidistant needs 4 coefficients (k1..k4), got {D.size}')
        if distortion_model != 'equidistant' and D.size not in (0, 4, 5, 8, 12, 14):
            raise ValueError(f'{distortion_model} needs 4, 5, 8, 12 or 14 coefficients, got '
                             f'{D.size}')
        R = np.eye(3) if R is None or np.asarray(R).size == 0 else _matrix(R, (3, 3), 'R')
        if P is None or np.asarray(P).size == 0 or not np.any(P):
            P = np.hstack([K, np.zeros((3, 1))])
        else:
            P = _matrix(P, (3, 4), 'P')
            if not (P[0, 0] > 0 and P[1, 1] > 0):
                raise ValueError(f'P must have positive focal lengths, got {P[0, 0]}, {P[1, 1]}')
        model = cls(width, height, distortion_model, D, K, R, P)
        return model.cropped(*roi) if roi is not None and any(roi) else model

    def cropped(self, x_offset: int, y_offset: int, width: int, height: int) -> 'CameraModel':
        """
        Return the camera of a window of this image (CameraInfo's roi), pixel (0, 0) at its corner.

        Only the principal points move: a pixel of the window is the same ray as the pixel of the
        whole image it was cut from. Raises ValueError if the window leaves the image.
        """
        x_offset, y_offset, width, height = (int(x_offset), int(y_offset), int(width),
                                             int(height))
        if (min(x_offset, y_offset) < 0 or width < 1 or height < 1
                or x_offset + width > self.width or y_offset + height > self.height):
            raise ValueError(f'roi {width}x{height} at ({x_offset}, {y_offset}) does not lie '
                             f'within the {self.width}x{self.height} image')
        shift = np.array([[1.0, 0.0, -x_offset], [0.0, 1.0, -y_offset], [0.0, 0.0, 1.0]])
        return CameraModel(width, height, self.distortion_model, self.D.copy(), shift @ self.K,
                           self.R.copy(), shift @ self.P)

    @functools.cached_property
    def has_distortion(self) -> bool:
        """Whether D bends rays (checked once per model: it is asked for every frame)."""
        return bool(np.any(self.D != 0))

    def scaled(self, width: int, height: int) -> 'CameraModel':
        """
        Return the same camera imaged at another resolution with the same field of view.

        This is how a RealSense's aligned depth relates to its colour image when they differ in
        size: pixel centres map as u' = (u + 0.5) * sx - 0.5, so fx, cx (and fy, cy) scale with
        that. Distortion coefficients are in normalized coordinates and do not change.
        """
        width, height = int(width), int(height)
        if width < 1 or height < 1:
            raise ValueError(f'image size must be positive, got {width}x{height}')
        sx, sy = width / self.width, height / self.height
        scale = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])
        return CameraModel(width, height, self.distortion_model, self.D.copy(),
                           scale @ self.K, self.R.copy(), scale @ self.P)

    def normalized(self, pixels, rectified: bool = False) -> np.ndarray:
        """Pixels (..., 2) as (x/z, y/z) on the ray through them (..., 2); NaN in, NaN out."""
        pixels = np.asarray(pixels, dtype=np.float64)
        if pixels.shape[-1:] != (2,):
            raise ValueError(f'pixels must have shape (..., 2), got {pixels.shape}')
        flat = pixels.reshape(-1, 2)
        out = np.full(flat.shape, np.nan)
        finite = all_finite(flat)
        out[finite] = self._rays(flat[finite], rectified)
        return out.reshape(pixels.shape)

    def _rays(self, pixels: np.ndarray, rectified: bool) -> np.ndarray:
        """Return `normalized` of finite pixels (M, 2)."""
        if rectified or not self.has_distortion:
            matrix = self.P[:, :3] if rectified else self.K
            return (pixels - matrix[:2, 2]) / np.diag(matrix)[:2]
        if not pixels.shape[0]:
            return pixels
        points = np.ascontiguousarray(pixels).reshape(-1, 1, 2)
        if self.distortion_model == 'equidistant':
            ideal = cv2.fisheye.undistortPoints(points, self.K, self.D,
                                                criteria=_UNDISTORT_CRITERIA)
        else:
            ideal = cv2.undistortPoints(points, self.K, self.D, criteria=_UNDISTORT_CRITERIA)
        return ideal.reshape(-1, 2)

    def deproject(self, pixels, depth, rectified: bool = False) -> np.ndarray:
        """
        3D points (..., 3) in the optical frame for pixels (..., 2) at depth z (...) metres.

        z is the distance along the optical axis (what a depth camera measures), not along the
        ray. NaN pixels or depths give NaN points. Only pixels with a depth are undistorted
        (the costly part): the others come out NaN either way.
        """
        pixels = np.asarray(pixels, dtype=np.float64)
        if pixels.shape[-1:] != (2,):
            raise ValueError(f'pixels must have shape (..., 2), got {pixels.shape}')
        depth = np.asarray(depth, dtype=np.float64)
        if depth.shape != pixels.shape[:-1]:
            raise ValueError(f'depth shape {depth.shape} does not match pixels '
                             f'{pixels.shape[:-1]}')
        flat, depth = pixels.reshape(-1, 2), depth.reshape(-1)
        points = np.full((depth.shape[0], 3), np.nan)
        wanted = all_finite(flat) & ~np.isnan(depth)
        ray = self._rays(flat[wanted], rectified)
        z = np.where(all_finite(ray), depth[wanted], np.nan)
        points[wanted, :2] = ray * z[:, None]
        points[wanted, 2] = z
        return points.reshape(pixels.shape[:-1] + (3,))

    def project(self, points, rectified: bool = False) -> np.ndarray:
        """
        Pixels (..., 2) where 3D points (..., 3) in the optical frame are imaged.

        Points at or behind the camera (z <= 0) and NaN points give NaN.
        """
        points = np.asarray(points, dtype=np.float64)
        if points.shape[-1:] != (3,):
            raise ValueError(f'points must have shape (..., 3), got {points.shape}')
        flat = points.reshape(-1, 3)
        out = np.full((flat.shape[0], 2), np.nan)
        ok = np.isfinite(flat).all(axis=1) & (flat[:, 2] > 0)
        if rectified or not self.has_distortion:
            matrix = self.P[:, :3] if rectified else self.K
            ideal = flat[ok, :2] / flat[ok, 2:3]
            out[ok] = ideal * np.diag(matrix)[:2] + matrix[:2, 2]
        elif ok.any():
            objects = np.ascontiguousarray(flat[ok]).reshape(-1, 1, 3)
            zero = np.zeros(3)
            if self.distortion_model == 'equidistant':
                image, _ = cv2.fisheye.projectPoints(objects, zero, zero, self.K, self.D)
            else:
                image, _ = cv2.projectPoints(objects, zero, zero, self.K, self.D)
            out[ok] = image.reshape(-1, 2)
        return out.reshape(points.shape[:-1] + (2,))


def map_pixels(pixels, from_size: tuple[int, int], to_size: tuple[int, int]) -> np.ndarray:
    """
    Map pixels (..., 2) of a (width, height) image into an image of another size.

    Same place, same field of view (pixel centres: u' = (u + 0.5) * sx - 0.5).
    """
    pixels = np.asarray(pixels, dtype=np.float64)
    scale = np.array([to_size[0] / from_size[0], to_size[1] / from_size[1]])
    return (pixels + 0.5) * scale - 0.5


def _matrix(values, shape: tuple[int, int], name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.size != shape[0] * shape[1]:
        raise ValueError(f'{name} must have {shape[0] * shape[1]} values, got {array.size}')
    array = array.reshape(shape)
    if not np.isfinite(array).all():
        raise ValueError(f'{name} holds non-finite values')
    return array
