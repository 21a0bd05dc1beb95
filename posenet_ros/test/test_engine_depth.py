"""
Keypoint depths and person positions from a registered depth image whose truth is known.

COCO photos get a synthetic depth image painted from their annotated person masks (each person at
a known distance, the background farther, holes, noise; see synthetic_people.depth_scene); the
annotated keypoints, and the estimator's keypoints on the real photo, are then placed in 3D.
"""
from __future__ import annotations

import functools

import numpy as np
from posenet_ros.engine.camera_model import CameraModel
from posenet_ros.engine.depth import (depth_in_metres, DepthConfig, keypoint_depths, people_in_3d,
                                      TORSO_PARTS)
import pytest
from synthetic_people import coco_annotations, depth_scene, HOLE, NO_PERSON

# pycocotools decodes masks through an __array__ without NumPy 2's copy keyword.
pytestmark = pytest.mark.filterwarnings('ignore:__array__ implementation:DeprecationWarning')
TOLERANCE = 0.02  # relative depth error allowed for a keypoint on a person
CASES = {
    # name: (depth image size relative to colour, encoding, distortion model and coefficients)
    'same size, 16UC1, no distortion': (1.0, '16UC1', 'plumb_bob', []),
    'same size, 32FC1, plumb_bob': (1.0, '32FC1', 'plumb_bob', [-0.2, 0.05, 0.001, -0.001, 0.0]),
    'half size, 16UC1, rational_polynomial': (
        0.5, '16UC1', 'rational_polynomial', [0.3, -0.05, 0.0, 0.001, 0.0, 0.6, -0.02, 0.0]),
}


def camera_for(width, height, model, coefficients):
    focal = 0.9 * width
    return CameraModel.from_fields(width, height, [focal, 0, width / 2 - 0.5, 0, focal,
                                                   height / 2 - 0.5, 0, 0, 1],
                                   coefficients, model)


def photos_with_people(data_path):
    coco = coco_annotations(data_path)
    return sorted(image_id for image_id, annotations in coco['by_image'].items()
                  if any(a['num_keypoints'] > 0 and not a['iscrowd'] for a in annotations))


def judge(scene, people, pixels, valid, owners, camera):
    """
    Count what people_in_3d reported against the truth of each keypoint's pixel.

    A person is measurable when at least 2 of their keypoints lie on their own mask: only then
    can a depth image tell their depth apart from what is around them (COCO marks keypoints
    hidden behind things the depth scene does not have, e.g. a bench, which then show the
    background). A position may be at the person's distance or, when a torso keypoint is hidden
    behind another person, at that occluder's.
    """
    height, width = scene.labels.shape
    rounded = np.floor(np.nan_to_num(pixels, nan=-1) + 0.5).astype(int)
    inside = valid & (rounded[..., 0] >= 0) & (rounded[..., 0] < width) \
        & (rounded[..., 1] >= 0) & (rounded[..., 1] < height)
    labels = np.full(valid.shape, NO_PERSON)
    labels[inside] = scene.labels[rounded[inside][:, 1], rounded[inside][:, 0]]
    own = owners[:, None] == labels
    measurable = (inside & own).sum(axis=1) >= 2
    reported = people.has_keypoint
    depth = people.keypoints[..., 2]
    own_distance = scene.distances[owners][:, None]
    near_own = np.abs(depth - own_distance) <= TOLERANCE * own_distance
    near_any = (np.abs(depth[..., None] - scene.distances) <= TOLERANCE * scene.distances).any(-1)
    off_person = inside & ((labels == NO_PERSON) | (labels == HOLE))
    on_background = reported & (np.abs(depth - scene.background) <= 0.05 * scene.background)
    position_ok = np.zeros(len(owners), dtype=bool)
    position_own = np.zeros(len(owners), dtype=bool)
    for row, owner in enumerate(owners):
        if not people.has_position[row]:
            continue
        z = people.positions[row, 2]
        torso_labels = labels[row, list(TORSO_PARTS)]
        allowed = {int(owner)} | {int(label) for label in torso_labels if label >= 0}
        position_own[row] = abs(z - scene.distances[owner]) <= TOLERANCE * scene.distances[owner]
        position_ok[row] = any(abs(z - scene.distances[i]) <= TOLERANCE * scene.distances[i]
                               for i in allowed)
    return {
        'people': len(owners),
        'measurable': int(measurable.sum()),
        'on_own': int((inside & own).sum()),
        'on_own_reported': int((inside & own & reported).sum()),
        'on_own_wrong': int((inside & own & reported & ~near_own).sum()),
        'off_person': int(off_person.sum()),
        'off_person_reported': int((off_person & reported).sum()),
        'reported_not_on_a_person': int((reported & ~near_any)[measurable].sum()),
        'reported_on_background': int(on_background[measurable].sum()),
        'unmeasurable_on_background': int(on_background[~measurable].sum()),
        'reprojection_px': float(np.nanmax(np.abs(camera.project(people.keypoints[reported])
                                                  - pixels[reported]), initial=0.0)),
        'positions': int(people.has_position[measurable].sum()),
        'positions_at_own': int(position_own[measurable].sum()),
        'positions_wrong': int((people.has_position & ~position_ok)[measurable].sum()),
    }


@functools.lru_cache(maxsize=None)
def annotated_case(data_path, name):
    scale, encoding, model, coefficients = CASES[name]
    rng = np.random.default_rng(7)
    totals = {}
    for image_id in photos_with_people(data_path):
        info = coco_annotations(data_path)['images'][image_id]
        width, height = info['width'], info['height']
        depth_size = (round(width * scale), round(height * scale))
        scene = depth_scene(data_path, image_id, rng, depth_size=depth_size, encoding=encoding)
        camera = camera_for(width, height, model, coefficients)
        keep = [i for i, a in enumerate(scene.people) if a['num_keypoints'] > 0]
        pixels = scene.keypoints[keep]
        valid = np.isfinite(pixels).all(axis=2)
        people = people_in_3d(scene.depth, encoding, pixels, valid, camera,
                              image_size=(width, height))
        counts = judge(scene, people, pixels, valid, np.array(keep), camera)
        for key, value in counts.items():
            totals[key] = max(totals.get(key, 0), value) if key == 'reprojection_px' else \
                totals.get(key, 0) + value
    return totals


@pytest.mark.parametrize('name', sorted(CASES))
def test_annotated_keypoints_get_their_persons_depth(data_path, name):
    """
    Annotated keypoints get their person's distance, never the background's.

    90%+ of the annotated keypoints on their person get that person's distance (within 2%),
    no keypoint of a measurable person is reported on the background, 3D points image back to
    their pixels, and positions are at the person (or an occluder of their torso).
    """
    totals = annotated_case(data_path, name)
    print(f'\n{name}: {totals}')
    assert totals['on_own'] > 1000
    assert totals['on_own_reported'] >= 0.9 * totals['on_own']
    assert totals['on_own_wrong'] <= 0.005 * totals['on_own_reported']
    assert totals['reported_on_background'] == 0
    assert totals['reported_not_on_a_person'] == 0
    assert totals['reprojection_px'] < 1e-3
    assert totals['positions'] >= 200
    # People overlapping at nearly the same depth (within 0.2 m) cannot be told apart by depth.
    assert totals['positions_wrong'] <= 0.03 * totals['positions']
    assert totals['positions_at_own'] >= 0.85 * totals['positions']


def test_detected_keypoints_on_the_real_photos(data_path, models_path):
    """
    The estimator's keypoints on the real photos are placed on their person.

    The person they belong to is the one under most of the pose's keypoints; never on the
    background.
    """
    from synthetic_people import cached_estimates
    rng = np.random.default_rng(11)
    totals = {}
    for image_id in photos_with_people(data_path)[:40]:
        scene = depth_scene(data_path, image_id, rng)
        height, width = scene.labels.shape
        poses = [p for p in cached_estimates(models_path, data_path, image_id) if p.score >= 0.35]
        if not poses:
            continue
        pixels = np.stack([p.keypoint_coords for p in poses])
        valid = np.stack([p.keypoint_scores for p in poses]) >= 0.3
        rounded = np.clip(np.floor(pixels + 0.5).astype(int), 0, [width - 1, height - 1])
        labels = scene.labels[rounded[..., 1], rounded[..., 0]]
        owners = []
        for row in range(len(poses)):
            mine = labels[row][valid[row] & (labels[row] >= 0)]
            owners.append(np.bincount(mine).argmax() if mine.size else -1)
        owners = np.array(owners)
        found = owners >= 0
        camera = camera_for(width, height, 'plumb_bob', [])
        people = people_in_3d(scene.depth, scene.encoding, pixels[found], valid[found], camera)
        counts = judge(scene, people, pixels[found], valid[found], owners[found], camera)
        for key, value in counts.items():
            totals[key] = max(totals.get(key, 0), value) if key == 'reprojection_px' else \
                totals.get(key, 0) + value
    print(f'\ndetected: {totals}')
    assert totals['on_own'] > 500
    assert totals['on_own_reported'] >= 0.9 * totals['on_own']
    assert totals['on_own_wrong'] <= 0.01 * totals['on_own_reported']
    assert totals['reported_on_background'] == 0
    assert totals['positions_wrong'] <= 0.04 * totals['positions']
    assert totals['positions_at_own'] >= 0.85 * totals['positions']


def wall_and_person(person_depth=2.0, wall_depth=4.0):
    """Return a 100x100 16UC1 image: a wall, and a person (a 40 px wide column) in front of it."""
    depth = np.full((100, 100), int(wall_depth * 1000), dtype=np.uint16)
    depth[10:95, 30:70] = int(person_depth * 1000)
    return depth


def test_an_elbow_against_the_wall_is_not_put_on_the_wall():
    """
    Torso keypoints on the person, arm keypoints at the silhouette and on the wall.

    One arm keypoint at the silhouette (window mostly wall: re-measured from the person's
    readings), one wholly on the wall (no depth).
    """
    depth = wall_and_person()
    pixels = np.full((1, 17, 2), 50.0)
    pixels[0, :, 1] = np.linspace(20, 90, 17)
    pixels[0, 7] = (31.0, 40.0)  # left elbow: 2 of 5 columns on the person
    pixels[0, 9] = (10.0, 50.0)  # left wrist: on the wall, 20 px from the person
    valid = np.ones((1, 17), dtype=bool)
    depths = keypoint_depths(depth, '16UC1', pixels, valid, (100, 100))
    assert depths[0, 7] == pytest.approx(2.0)
    assert np.isnan(depths[0, 9])
    others = np.delete(depths[0], [7, 9])
    np.testing.assert_allclose(others, 2.0)


def test_window_median_ignores_missing_and_out_of_range_readings():
    depth = np.zeros((20, 20), dtype=np.float32)
    depth[8:13, 8:13] = np.array([np.nan, 0.0, 3.0, 2.0, 2.2] * 5, dtype=np.float32
                                 ).reshape(5, 5).T
    depth[10, 10] = 50.0  # beyond depth_max
    pixels = np.array([[[10.0, 10.0]] * 17])
    valid = np.zeros((1, 17), dtype=bool)
    valid[0, 0] = True
    depths = keypoint_depths(depth, '32FC1', pixels, valid, (20, 20),
                             DepthConfig(max_deviation=5.0))
    assert depths[0, 0] == pytest.approx(2.2)  # median of 3.0 x5, 2.0 x5, 2.2 x4
    assert np.isnan(depths[0, 1:]).all()  # not asked for


def test_holes_and_the_border_are_no_reading_in_metres_even_with_depth_min_zero():
    """
    32FC1 zeros (holes) and a window's pixels off the image are no readings, not 0 m.

    With depth_min 0 every positive reading counts. Keypoints by the left border, their windows
    a fifth off the image and two fifths over holes, get the depth of the readings they have,
    as the same scene in 16UC1 millimetres gives; one over holes alone gets no depth rather
    than a point at the camera.
    """
    depth = np.full((40, 40), 2.0, dtype=np.float32)
    depth[:, :2] = 0.0  # holes along the left border
    depth[:5, :5] = 0.0  # and in the top left corner
    pixels = np.ones((1, 17, 2))
    pixels[0, 1:, 1] = np.linspace(10.0, 34.0, 16)  # keypoint 0 stays at (1, 1), in the corner
    valid = np.ones((1, 17), dtype=bool)
    config = DepthConfig(depth_min=0.0)
    people = people_in_3d(depth, '32FC1', pixels, valid, camera_for(40, 40, 'plumb_bob', []),
                          config=config)
    assert not people.has_keypoint[0, 0] and np.isnan(people.keypoints[0, 0]).all()
    assert people.has_keypoint[0, 1:].all()
    np.testing.assert_allclose(people.keypoints[0, 1:, 2], 2.0)
    assert people.has_position[0] and people.positions[0, 2] == pytest.approx(2.0)
    millimetres = keypoint_depths((depth * 1000).astype(np.uint16), '16UC1', pixels, valid,
                                  (40, 40), config)
    np.testing.assert_array_equal(
        keypoint_depths(depth, '32FC1', pixels, valid, (40, 40), config), millimetres)


def test_keypoints_outside_the_image_or_without_readings_have_no_depth():
    depth = np.zeros((50, 50), dtype=np.uint16)
    depth[:, :25] = 1500
    pixels = np.array([[[10.0, 10.0], [40.0, 10.0], [-30.0, 10.0], [10.0, 400.0]]
                       + [[10, 10]] * 13])
    valid = np.ones((1, 17), dtype=bool)
    camera = camera_for(50, 50, 'plumb_bob', [])
    people = people_in_3d(depth, '16UC1', pixels, valid, camera)
    assert people.has_keypoint[0, 0] and not people.has_keypoint[0, 1:4].any()
    assert people.keypoints.shape == (1, 17, 3)
    assert np.isnan(people.keypoints[0, 1:4]).all()
    assert people.has_position[0]  # torso keypoints 5, 6, 11, 12 sit at (10, 10)
    assert people.positions[0, 2] == pytest.approx(1.5)


def test_no_people_and_bad_input():
    camera = camera_for(50, 50, 'plumb_bob', [])
    empty = people_in_3d(np.zeros((50, 50), np.uint16), '16UC1', np.zeros((0, 17, 2)),
                         np.zeros((0, 17), bool), camera)
    assert empty.keypoints.shape == (0, 17, 3) and empty.positions.shape == (0, 3)
    with pytest.raises(ValueError, match='encoding'):
        depth_in_metres(np.zeros((2, 2)), 'rgb8')
    with pytest.raises(ValueError, match='odd'):
        DepthConfig(window=4).check()
    with pytest.raises(ValueError, match='depth_min < depth_max'):
        DepthConfig(depth_min=3.0, depth_max=2.0).check()
    with pytest.raises(ValueError, match='keypoint_valid must be'):
        keypoint_depths(np.zeros((5, 5)), '16UC1', np.zeros((2, 17, 2)), np.ones((1, 17), bool),
                        (5, 5))
    with pytest.raises(ValueError, match='single-channel'):
        keypoint_depths(np.zeros((5, 5, 3)), '16UC1', np.zeros((1, 17, 2)),
                        np.ones((1, 17), bool), (5, 5))


def test_a_window_of_float_or_bool_pixels_is_refused_when_checked():
    """A whole-number float passed the check and then failed on every frame (np.take)."""
    for not_a_count in (5.0, np.float64(3.0), True):
        with pytest.raises(ValueError, match='window must be an odd number of pixels'):
            DepthConfig(window=not_a_count).check()
    depth = np.full((20, 20), 1500, dtype=np.uint16)
    depths = keypoint_depths(depth, '16UC1', np.full((1, 17, 2), 10.0), np.ones((1, 17), bool),
                             (20, 20), DepthConfig(window=np.int64(3)))
    np.testing.assert_allclose(depths, 1.5)
