"""
Test scenes whose truth is known by construction, made from COCO photos and their annotations.

- `depth_scene`: a registered depth image for a COCO photo, painted from the annotated person masks
  (each person at a known distance, the background farther, holes of no reading, noise), at the
  colour resolution or another one with the same field of view.
- `walking_sequence`: people cut from COCO photos with their masks, pasted walking across a
  synthetic background, crossing, occluding each other, leaving and coming back; every frame
  comes with each visible person's true identity and keypoints.

Nothing is written to disk; photos are read from ../shared (never committed). Used by the
depth, tracking and smoothing tests and meant for the node tests too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import functools
import json
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from pycocotools import mask as coco_mask

NO_PERSON = -1  # label of background pixels
HOLE = -2  # label of pixels with no depth reading


@functools.lru_cache(maxsize=2)
def coco_annotations(data_path: Path) -> dict:
    """
    Return the keypoint annotations of ../shared/data/coco_kpts, indexed.

    As {'images', 'by_image'}.
    """
    document = json.loads((Path(data_path) / 'coco_kpts' / 'annotations.json').read_text())
    by_image: dict[int, list[dict]] = {}
    for annotation in document['annotations']:
        by_image.setdefault(annotation['image_id'], []).append(annotation)
    return {'images': {image['id']: image for image in document['images']},
            'by_image': by_image}


def coco_photo(data_path: Path, image_id: int) -> np.ndarray:
    path = Path(data_path) / 'coco_kpts' / 'images' / f'{int(image_id):012d}.jpg'
    return np.asarray(Image.open(path).convert('RGB'))


def annotation_mask(annotation: dict, height: int, width: int) -> np.ndarray:
    """(H, W) bool mask of an annotation's segmentation (polygons or RLE)."""
    segmentation = annotation['segmentation']
    if isinstance(segmentation, list):
        rles = coco_mask.frPyObjects(segmentation, height, width)
        rle = coco_mask.merge(rles)
    elif isinstance(segmentation['counts'], list):
        rle = coco_mask.frPyObjects(segmentation, height, width)
    else:
        rle = segmentation
    return coco_mask.decode(rle).astype(bool)


def annotated_keypoints(annotation: dict) -> tuple[np.ndarray, np.ndarray]:
    """(17, 2) annotated keypoints (pixels, NaN where unlabelled) and (17,) bool labelled."""
    values = np.asarray(annotation['keypoints'], dtype=np.float64).reshape(17, 3)
    labelled = values[:, 2] > 0
    return np.where(labelled[:, None], values[:, :2], np.nan), labelled


# ------------------------------------------------------------------------------------------
# Depth
# ------------------------------------------------------------------------------------------

@dataclass
class DepthScene:
    """
    A COCO photo with a synthetic registered depth image and the truth it was made from.

    labels: (H, W) at colour resolution, the person index painted there (after occlusion),
    NO_PERSON or HOLE. people: the annotations in index order; distances: (P,) metres.
    """

    image: np.ndarray
    depth: np.ndarray
    encoding: str
    labels: np.ndarray
    people: list
    distances: np.ndarray
    background: float
    keypoints: np.ndarray = field(default=None)  # (P, 17, 2) annotated, NaN where unlabelled


def depth_scene(data_path: Path, image_id: int, rng: np.random.Generator,
                depth_size: tuple[int, int] | None = None, encoding: str = '16UC1',
                near: float = 1.2, far: float = 5.0, background: float = 7.5,
                noise: float = 0.004, hole_fraction: float = 0.08) -> DepthScene:
    """
    Return a depth image for photo `image_id` with its people at random distances.

    Person masks at random distances in [near, far],
    nearer people painted over farther ones, everything else at `background` metres,
    multiplicative Gaussian noise (`noise` relative), holes (0) over about `hole_fraction` of the
    image in blobs. depth_size (width, height) defaults to the photo's.
    """
    coco = coco_annotations(Path(data_path))
    info = coco['images'][image_id]
    height, width = info['height'], info['width']
    people = [a for a in coco['by_image'][image_id] if not a['iscrowd']]
    distances = rng.uniform(near, far, len(people))
    labels = np.full((height, width), NO_PERSON, dtype=np.int32)
    for index in np.argsort(-distances):  # far first, near painted over
        labels[annotation_mask(people[index], height, width)] = index
    depth_width, depth_height = depth_size or (width, height)
    # Each depth pixel shows what the colour pixel at the same place of the field of view shows.
    xs = np.clip(np.floor((np.arange(depth_width) + 0.5) * width / depth_width), 0, width - 1)
    ys = np.clip(np.floor((np.arange(depth_height) + 0.5) * height / depth_height), 0, height - 1)
    depth_labels = labels[ys.astype(int)[:, None], xs.astype(int)[None, :]]
    metres = np.where(depth_labels >= 0, distances[np.maximum(depth_labels, 0)], background)
    metres = metres * (1.0 + noise * rng.standard_normal(metres.shape))
    seeds = rng.random((depth_height, depth_width)) < hole_fraction / 20.0
    holes = cv2.dilate(seeds.astype(np.uint8), np.ones((4, 4), np.uint8)).astype(bool)
    metres[holes] = 0.0
    if encoding == '16UC1':
        depth = np.round(metres * 1000.0).astype(np.uint16)
    elif encoding == '32FC1':
        depth = metres.astype(np.float32)
        depth[holes] = np.where(rng.random(holes.sum()) < 0.5, 0.0, np.nan)
    else:
        raise ValueError(encoding)
    hole_at_colour = holes[
        np.clip(np.floor((np.arange(height) + 0.5) * depth_height / height), 0,
                depth_height - 1).astype(int)[:, None],
        np.clip(np.floor((np.arange(width) + 0.5) * depth_width / width), 0,
                depth_width - 1).astype(int)[None, :]]
    labels = np.where(hole_at_colour, HOLE, labels)
    keypoints = np.stack([annotated_keypoints(a)[0] for a in people]) if people else \
        np.zeros((0, 17, 2))
    return DepthScene(image=coco_photo(data_path, image_id), depth=depth, encoding=encoding,
                      labels=labels, people=people, distances=distances, background=background,
                      keypoints=keypoints)


# ------------------------------------------------------------------------------------------
# Walking people
# ------------------------------------------------------------------------------------------

@dataclass
class Sprite:
    """A person cut from a COCO photo: RGB, alpha mask and annotated keypoints in crop pixels."""

    rgb: np.ndarray
    alpha: np.ndarray
    keypoints: np.ndarray  # (17, 2), NaN where unlabelled
    annotation_id: int


@functools.lru_cache(maxsize=2)
def person_sprites(data_path: Path, count: int = 4, min_height: int = 250) -> tuple:
    """
    Return `count` people from the COCO photos that make good sprites.

    At least 15 labelled keypoints, at least `min_height` px tall, alone (their mask overlaps no
    other person's box much). Deterministic: sorted by annotation id.
    """
    coco = coco_annotations(Path(data_path))
    chosen = []
    for image_id, people in sorted(coco['by_image'].items()):
        for annotation in people:
            if annotation['iscrowd'] or annotation['num_keypoints'] < 15 \
                    or annotation['bbox'][3] < min_height:
                continue
            x, y, w, h = annotation['bbox']
            others = [a for a in people if a is not annotation]
            if any(_overlap((x, y, w, h), a['bbox']) > 0.15 for a in others):
                continue
            chosen.append((annotation['id'], image_id, annotation))
    chosen.sort(key=lambda item: item[0])
    sprites = []
    for _, image_id, annotation in chosen[:count]:
        photo = coco_photo(data_path, image_id)
        mask = annotation_mask(annotation, *photo.shape[:2])
        x, y, w, h = (int(round(v)) for v in annotation['bbox'])
        x1, y1 = min(x + w + 1, photo.shape[1]), min(y + h + 1, photo.shape[0])
        keypoints, _ = annotated_keypoints(annotation)
        sprites.append(Sprite(rgb=photo[y:y1, x:x1].copy(), alpha=mask[y:y1, x:x1].copy(),
                              keypoints=keypoints - (x, y), annotation_id=annotation['id']))
    return tuple(sprites)


def _overlap(box_a, box_b) -> float:
    """Intersection over the area of box_a (COCO x, y, w, h)."""
    ax, ay, aw, ah = box_a
    bx, by, bw, bh = box_b
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    return iw * ih / max(aw * ah, 1e-9)


@dataclass
class Walker:
    """
    One person of a sequence.

    Sprite index, height on screen (px), foot position over time (piecewise linear through
    (time s, x px, y px) waypoints; outside them: not in the scene), and a depth order (larger:
    nearer, painted over).
    """

    sprite: int
    height: float
    waypoints: list
    order: int

    def position(self, t: float):
        times = [w[0] for w in self.waypoints]
        if t < times[0] or t > times[-1]:
            return None
        return (float(np.interp(t, times, [w[1] for w in self.waypoints])),
                float(np.interp(t, times, [w[2] for w in self.waypoints])))


@dataclass
class Frame:
    """
    A rendered frame: the image, its stamp, and the truth.

    Per visible person the truth is their identity (index of the walker), keypoints (17, 2; NaN
    unlabelled or hidden) and area (px^2).
    """

    image: np.ndarray
    stamp: float
    identities: list
    keypoints: list
    areas: list


def synthetic_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """
    Return a smooth, person-free backdrop.

    Blurred coarse colour noise with a floor-like gradient.
    """
    coarse = rng.uniform(60, 200, (6, 8, 3)).astype(np.float32)
    smooth = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    gradient = np.linspace(-25, 25, height, dtype=np.float32)[:, None, None]
    fine = rng.normal(0, 6, (height, width, 3)).astype(np.float32)
    return np.clip(smooth + gradient + fine, 0, 255).astype(np.uint8)


SCENARIOS = {
    # Two people walking towards each other; the one going right passes in front.
    'crossing': {'duration': 4.0, 'walkers': [
        Walker(0, 300, [(0.0, 90, 420), (4.0, 560, 430)], order=2),
        Walker(1, 280, [(0.0, 560, 410), (4.0, 80, 400)], order=1),
    ]},
    # Three people: one walks out of the picture and back in 2 s later; one passes behind a
    # standing one (hidden for about half a second) and comes out on the other side.
    'leave_and_return': {'duration': 6.0, 'walkers': [
        Walker(2, 300, [(0.0, 150, 440), (6.0, 170, 440)], order=3),
        Walker(3, 260, [(0.0, 420, 410), (1.5, 740, 410), (3.5, 740, 410), (6.0, 420, 410)],
               order=2),
        Walker(0, 240, [(0.0, -40, 380), (6.0, 600, 380)], order=1),
    ]},
    # Four small people (130-150 px, as a camera sees a street) walking close to each other:
    # two pairs crossing, one overtaking another on a parallel path 40 px away.
    'small_crowd': {'duration': 5.0, 'walkers': [
        Walker(0, 150, [(0.0, 60, 300), (5.0, 560, 330)], order=4),
        Walker(1, 140, [(0.0, 580, 310), (5.0, 80, 290)], order=3),
        Walker(2, 130, [(0.0, 100, 250), (5.0, 400, 250)], order=1),
        Walker(3, 135, [(0.0, 40, 270), (5.0, 560, 270)], order=2),
    ]},
}


def walking_sequence(data_path: Path, name: str, fps: float = 10.0, height: int = 480,
                     width: int = 640, seed: int = 0) -> list[Frame]:
    """Frames of scenario `name` (see SCENARIOS) at `fps`, with their truth."""
    scenario = SCENARIOS[name]
    sprites = person_sprites(Path(data_path))
    rng = np.random.default_rng(seed)
    background = synthetic_background(rng, height, width)
    frames = []
    for step in range(int(round(scenario['duration'] * fps)) + 1):
        stamp = step / fps
        frames.append(_render(scenario['walkers'], sprites, background, stamp))
    return frames


def _render(walkers, sprites, background, stamp: float) -> Frame:
    height, width = background.shape[:2]
    canvas = background.copy()
    owner = np.full((height, width), -1, dtype=np.int32)
    placed = []
    for index, walker in sorted(enumerate(walkers), key=lambda item: item[1].order):
        position = walker.position(stamp)
        if position is None:
            continue
        sprite = sprites[walker.sprite]
        scale = walker.height / sprite.rgb.shape[0]
        size = (max(1, round(sprite.rgb.shape[1] * scale)), max(1, round(walker.height)))
        rgb = cv2.resize(sprite.rgb, size, interpolation=cv2.INTER_AREA)
        alpha = cv2.resize(sprite.alpha.astype(np.uint8), size,
                           interpolation=cv2.INTER_NEAREST).astype(bool)
        left = int(round(position[0] - size[0] / 2))
        top = int(round(position[1] - size[1]))
        ys, xs = np.nonzero(alpha)
        ys_img, xs_img = ys + top, xs + left
        inside = (ys_img >= 0) & (ys_img < height) & (xs_img >= 0) & (xs_img < width)
        canvas[ys_img[inside], xs_img[inside]] = rgb[ys[inside], xs[inside]]
        owner[ys_img[inside], xs_img[inside]] = index
        keypoints = (sprite.keypoints + 0.5) * scale - 0.5 + (left, top)
        placed.append((index, keypoints, int(alpha.sum())))
    identities, keypoints_out, areas = [], [], []
    for index, keypoints, total in placed:
        shown = int((owner == index).sum())
        if total == 0 or shown < 0.3 * total:
            continue  # mostly hidden or outside: not expected to be found
        visible = keypoints.copy()
        px = np.round(np.nan_to_num(keypoints, nan=-1)).astype(int)
        on = (px[:, 0] >= 0) & (px[:, 0] < width) & (px[:, 1] >= 0) & (px[:, 1] < height)
        own = np.zeros(17, dtype=bool)
        own[on] = owner[px[on, 1], px[on, 0]] == index
        visible[~own] = np.nan
        identities.append(index)
        keypoints_out.append(visible)
        areas.append(float(shown))
    return Frame(image=canvas, stamp=stamp, identities=identities, keypoints=keypoints_out,
                 areas=areas)


# ------------------------------------------------------------------------------------------
# Scoring a tracker against the truth
# ------------------------------------------------------------------------------------------

def coco_oks(truth: np.ndarray, area: float, found: np.ndarray) -> float:
    """Return COCO's OKS of a found pose (17, 2) against a true one (17, 2, NaN: unlabelled)."""
    from posenet_ros.engine.tracking import COCO_SIGMAS
    labelled = np.isfinite(truth).all(axis=1)
    if not labelled.any():
        return 0.0
    squared = ((truth[labelled] - found[labelled]) ** 2).sum(axis=1)
    variances = (2.0 * COCO_SIGMAS[labelled]) ** 2
    return float(np.mean(np.exp(-squared / (2.0 * max(area, 1.0) * variances))))


def tracking_metrics(frames: list, poses_per_frame: list, ids_per_frame: list,
                     min_oks: float = 0.5) -> dict:
    """
    IDF1, MOTA, identity switches, ... (motmetrics) of tracked poses against the truth.

    A found pose and a true person can be matched when their OKS is at least `min_oks`; poses
    with id 0 (not tracked) are not hypotheses.
    """
    import motmetrics
    accumulator = motmetrics.MOTAccumulator(auto_id=True)
    for frame, poses, ids in zip(frames, poses_per_frame, ids_per_frame):
        hypotheses = [(int(i), pose) for i, pose in zip(ids, poses) if i > 0]
        distances = np.full((len(frame.identities), len(hypotheses)), np.nan)
        for row, (truth, area) in enumerate(zip(frame.keypoints, frame.areas)):
            for col, (_, pose) in enumerate(hypotheses):
                oks = coco_oks(truth, area, pose)
                if oks >= min_oks:
                    distances[row, col] = 1.0 - oks
        accumulator.update(list(frame.identities), [h[0] for h in hypotheses], distances)
    host = motmetrics.metrics.create()
    summary = host.compute(accumulator, metrics=['idf1', 'mota', 'num_switches', 'num_misses',
                                                 'num_false_positives', 'num_objects',
                                                 'num_unique_objects', 'mostly_tracked'],
                           name='run')
    return {name: float(summary[name].iloc[0]) for name in summary.columns}


# ------------------------------------------------------------------------------------------
# The real estimator, run once per input within a test session
# ------------------------------------------------------------------------------------------

# The node's ready configuration (config/posenet.yaml) for a 640x480 camera.
NODE_CONFIG = {'decoding': 'multi', 'input_height': 353, 'input_width': 481, 'output_stride': 16,
               'max_pose_detections': 10, 'score_threshold': 0.1, 'nms_radius': 30.0,
               'match_aspect_ratio': True, 'refine_keypoints': True, 'pose_score_keypoints': 5}


@functools.lru_cache(maxsize=2)
def estimator(models_path: Path):
    from posenet_ros.engine import PoseEstimator
    return PoseEstimator(str(Path(models_path) / 'mobilenet_quant2_075'))


def estimate_config(**changes):
    from posenet_ros.engine import EstimateConfig
    return EstimateConfig(**{**NODE_CONFIG, **changes})


@functools.lru_cache(maxsize=None)
def cached_estimates(models_path: Path, data_path: Path, image_id: int) -> tuple:
    """Return the estimator's poses (node configuration) on COCO photo `image_id`."""
    result = estimator(Path(models_path)).estimate(coco_photo(data_path, image_id),
                                                   estimate_config())
    return tuple(result.poses)


@functools.lru_cache(maxsize=None)
def estimated_sequence(models_path: Path, data_path: Path, name: str,
                       sizes: tuple = ((353, 481),)) -> tuple:
    """
    Return (frames, poses per frame) of scenario `name`.

    Frame i is estimated at input size sizes[i % len(sizes)] (to check that tracking does not
    mind the input size changing).
    """
    frames = walking_sequence(Path(data_path), name)
    model = estimator(Path(models_path))
    poses = []
    for index, frame in enumerate(frames):
        height, width = sizes[index % len(sizes)]
        config = estimate_config(input_height=height, input_width=width)
        poses.append(tuple(model.estimate(frame.image, config).poses))
    return tuple(frames), tuple(poses)
