"""CameraModel: pixels + depth to 3D points in the optical frame, against OpenCV's projection."""
from __future__ import annotations

import cv2
import numpy as np
from posenet_ros.engine.camera_model import CameraModel, map_pixels
import pytest

K = [615.0, 0.0, 321.5, 0.0, 612.0, 243.0, 0.0, 0.0, 1.0]
DISTORTIONS = {
    'plumb_bob': [-0.28, 0.09, 0.0012, -0.0008, -0.012],
    'rational_polynomial': [0.42, -0.08, 0.0009, 0.0011, 0.006, 0.75, -0.03, 0.015],
    'equidistant': [-0.04, 0.012, -0.004, 0.0007],
}


def random_points(rng, shape=(6, 17)):
    """3D points in front of the camera, spread over about the image."""
    z = rng.uniform(0.5, 6.0, shape)
    x = rng.uniform(-0.45, 0.45, shape) * z
    y = rng.uniform(-0.35, 0.35, shape) * z
    return np.stack([x, y, z], axis=-1)


@pytest.mark.parametrize('model', sorted(DISTORTIONS))
def test_deprojection_inverts_opencvs_projection(model):
    """A 3D point imaged with OpenCV's distortion model comes back from its pixel and depth."""
    camera = CameraModel.from_fields(640, 480, K, DISTORTIONS[model], model)
    points = random_points(np.random.default_rng(1))
    flat = points.reshape(-1, 1, 3)
    if model == 'equidistant':
        pixels, _ = cv2.fisheye.projectPoints(flat, np.zeros(3), np.zeros(3),
                                              np.reshape(K, (3, 3)), np.array(DISTORTIONS[model]))
    else:
        pixels, _ = cv2.projectPoints(flat, np.zeros(3), np.zeros(3), np.reshape(K, (3, 3)),
                                      np.array(DISTORTIONS[model]))
    pixels = pixels.reshape(points.shape[:-1] + (2,))
    back = camera.deproject(pixels, points[..., 2])
    assert back.shape == points.shape
    np.testing.assert_allclose(back, points, atol=1e-6)
    np.testing.assert_allclose(camera.project(back), pixels, atol=1e-6)


def test_undistorted_camera_is_the_pinhole_formula():
    camera = CameraModel.from_fields(640, 480, K)
    pixels = np.array([[[0.0, 0.0], [321.5, 243.0], [639.0, 479.0]]])
    depth = np.array([[2.0, 3.0, 4.5]])
    points = camera.deproject(pixels, depth)
    expected_x = (pixels[..., 0] - 321.5) / 615.0 * depth
    expected_y = (pixels[..., 1] - 243.0) / 612.0 * depth
    np.testing.assert_allclose(points, np.stack([expected_x, expected_y, depth], -1))


def test_rectified_pixels_use_p_not_k_and_d():
    """In a rectified image the distortion is gone and P's intrinsics apply (not K's)."""
    P = [580.0, 0.0, 318.0, -40.0, 0.0, 580.0, 240.5, 0.0, 0.0, 0.0, 1.0, 0.0]
    camera = CameraModel.from_fields(640, 480, K, DISTORTIONS['plumb_bob'], 'plumb_bob', P=P)
    points = random_points(np.random.default_rng(2))
    pixels = points[..., :2] / points[..., 2:] * 580.0 + (318.0, 240.5)
    np.testing.assert_allclose(camera.deproject(pixels, points[..., 2], rectified=True), points,
                               atol=1e-9)
    np.testing.assert_allclose(camera.project(points, rectified=True), pixels, atol=1e-9)
    raw = camera.deproject(pixels, points[..., 2])
    assert np.abs(raw - points).max() > 0.01


@pytest.mark.parametrize('model', ['plumb_bob', 'equidistant'])
def test_scaled_camera_sees_the_same_rays(model):
    """
    A point lands at the mapped pixel of a smaller image with the same field of view.

    Depth at half the colour resolution with the same field of view (RealSense aligned depth).
    """
    camera = CameraModel.from_fields(640, 480, K, DISTORTIONS[model], model)
    small = camera.scaled(320, 240)
    points = random_points(np.random.default_rng(3))
    np.testing.assert_allclose(small.project(points),
                               map_pixels(camera.project(points), (640, 480), (320, 240)),
                               atol=1e-9)
    assert (small.width, small.height) == (320, 240)


@pytest.mark.parametrize('model', sorted(DISTORTIONS))
@pytest.mark.parametrize('binning', [1, 2])
def test_roi_camera_sees_the_same_rays(model, binning):
    """
    A camera sending a window of its sensor (CameraInfo's roi, optionally binned).

    A point imaged at (u, v) by the whole sensor is at (u - x_offset, v - y_offset) in the
    window (scaled by the binning), and comes back from there at its depth.
    """
    roi = (160, 120, 320, 240)
    camera = CameraModel.from_fields(640, 480, K, DISTORTIONS[model], model, roi=roi)
    assert (camera.width, camera.height) == (320, 240)
    whole = CameraModel.from_fields(640, 480, K, DISTORTIONS[model], model)
    rng = np.random.default_rng(4)
    z = rng.uniform(0.5, 6.0, (6, 17))
    # Points the window sees: rays through its pixels.
    window_pixels = rng.uniform((0, 0), (319, 239), (6, 17, 2))
    points = whole.deproject(window_pixels + roi[:2], z)
    image = camera.scaled(320 // binning, 240 // binning)
    pixels = map_pixels(window_pixels, (320, 240), (320 // binning, 240 // binning))
    np.testing.assert_allclose(image.deproject(pixels, z), points, atol=1e-6)
    np.testing.assert_allclose(image.project(points), pixels, atol=1e-6)


def test_empty_roi_is_the_whole_image():
    camera = CameraModel.from_fields(640, 480, K, roi=(0, 0, 0, 0))
    np.testing.assert_array_equal(camera.K, np.reshape(K, (3, 3)))
    assert (camera.width, camera.height) == (640, 480)


def test_missing_values_stay_missing():
    camera = CameraModel.from_fields(640, 480, K, DISTORTIONS['plumb_bob'])
    pixels = np.array([[100.0, 100.0], [np.nan, 5.0], [300.0, 200.0]])
    points = camera.deproject(pixels, np.array([2.0, 2.0, np.nan]))
    assert np.isfinite(points[0]).all()
    assert np.isnan(points[1]).all() and np.isnan(points[2]).all()
    behind = camera.project(np.array([[0.1, 0.1, -1.0], [0.1, 0.1, 2.0]]))
    assert np.isnan(behind[0]).all() and np.isfinite(behind[1]).all()


@pytest.mark.parametrize('fields, message', [
    ({'distortion_model': 'fisheye_magic'}, 'not supported'),
    ({'D': [0.1, 0.2, 0.3]}, 'coefficients'),
    ({'distortion_model': 'equidistant', 'D': [0.1] * 5}, 'equidistant needs 4'),
    ({'K': [0.0, 0, 320, 0, 600, 240, 0, 0, 1]}, 'positive focal'),
    ({'K': [600.0, 0, 320, 0, 600, 240]}, 'K must have 9 values'),
    ({'width': 0}, 'positive'),
    ({'D': [np.nan, 0, 0, 0, 0]}, 'non-finite'),
    ({'P': [1.0] * 11}, 'P must have 12 values'),
    ({'roi': (400, 0, 320, 240)}, 'roi 320x240 at .400, 0. does not lie within the 640x480'),
    ({'roi': (10, 10, 0, 0)}, 'roi 0x0 at .10, 10. does not lie within'),
])
def test_bad_fields_are_refused_with_the_reason(fields, message):
    arguments = {'width': 640, 'height': 480, 'K': K, 'D': [], 'distortion_model': 'plumb_bob'}
    arguments.update(fields)
    with pytest.raises(ValueError, match=message):
        CameraModel.from_fields(**arguments)
