"""
posenet_track_figure: a picture of tracked people from a video, for the README.

Runs the estimator with the node's ready configuration and the tracker (with One-Euro smoothing,
as config/posenet.yaml sets them) over the first frames of a video, then draws the last frame's
skeletons, coloured and labelled by track id, with each track's path (the mid-hip point over the
frames before) on a plain background: the video's own pixels are not reproduced.

    posenet_track_figure --frames 150 --out docs/people3d_tracks.png
"""
from __future__ import annotations

import argparse
from pathlib import Path
import sys

import numpy as np
from posenet_tools.shared_data import models_dir, shared_dir

NODE_CONFIG = {'decoding': 'multi', 'input_height': 353, 'input_width': 481, 'output_stride': 16,
               'max_pose_detections': 10, 'score_threshold': 0.1, 'nms_radius': 30.0,
               'match_aspect_ratio': True, 'refine_keypoints': True, 'pose_score_keypoints': 5}
MIN_POSE_SCORE = 0.35
LEFT_HIP, RIGHT_HIP = 11, 12
BACKGROUND_RGB = (236, 236, 236)


def track_figure(video: Path, frames: int, model: str) -> np.ndarray:
    """Return the RGB picture (see the module docstring) of `frames` frames of `video`."""
    import cv2

    from posenet_ros.engine.config import EstimateConfig
    from posenet_ros.engine.drawing import draw_poses, track_color
    from posenet_ros.engine.estimator import PoseEstimator
    from posenet_ros.engine.image_io import iter_video_rgb
    from posenet_ros.engine.pose_tracks import PoseTracks

    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS) or 10.0
    capture.release()
    estimator = PoseEstimator(str(models_dir() / model))
    config = EstimateConfig(**NODE_CONFIG)
    tracks = PoseTracks.with_default_smoothing()
    paths: dict[int, list[tuple[float, float]]] = {}
    last = None
    for index, rgb in iter_video_rgb(video):
        if index >= frames:
            break
        poses = [p for p in estimator.estimate(rgb, config).poses if p.score >= MIN_POSE_SCORE]
        ids, poses = tracks.update(poses, index / fps)
        for track_id, pose in zip(ids.tolist(), poses):
            hips = pose.keypoint_coords[[LEFT_HIP, RIGHT_HIP]]
            if track_id and np.isfinite(hips).all():
                paths.setdefault(track_id, []).append(tuple(hips.mean(axis=0)))
        last = (rgb.shape, poses, ids)
    if last is None:
        raise SystemExit(f'{video}: no frame could be read')
    shape, poses, ids = last
    canvas = np.empty(shape, dtype=np.uint8)
    canvas[:] = BACKGROUND_RGB
    for track_id, path in paths.items():
        if len(path) > 1:
            points = np.round(np.array(path)).astype(np.int32).reshape(-1, 1, 2)
            cv2.polylines(canvas, [points], False, track_color(track_id), 2, cv2.LINE_AA)
    return draw_poses(canvas, poses, 0.0, 0.1, track_ids=ids)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='posenet_track_figure',
                                     description=__doc__.split('\n\n')[0])
    parser.add_argument('--video', type=Path, default=None,
                        help='default: <shared>/data/video/vtest.avi')
    parser.add_argument('--frames', type=int, default=150)
    parser.add_argument('--model', default='mobilenet_quant2_075')
    parser.add_argument('--out', type=Path, required=True, help='PNG to write')
    args = parser.parse_args(argv)
    import cv2

    from posenet_ros.engine.atomic_write import write_file_atomic
    video = args.video or shared_dir() / 'data' / 'video' / 'vtest.avi'
    picture = track_figure(video, args.frames, args.model)
    ok, png = cv2.imencode('.png', cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    if not ok:
        raise SystemExit('could not encode the picture')
    write_file_atomic(args.out, png.tobytes())
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
