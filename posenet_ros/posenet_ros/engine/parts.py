"""
Body parts, the tree the multi-pose decoder walks, and the skeleton drawn for people.

Part order is COCO's keypoint order, which is also PoseNet's and posenet_msgs/Keypoint's.
"""
from __future__ import annotations

PART_NAMES = (
    'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear',
    'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow',
    'left_wrist', 'right_wrist', 'left_hip', 'right_hip',
    'left_knee', 'right_knee', 'left_ankle', 'right_ankle',
)
NUM_KEYPOINTS = len(PART_NAMES)
PART_IDS = {name: index for index, name in enumerate(PART_NAMES)}

# PoseNet's names (camelCase), as the tfjs library and its JSON output spell them.
PART_NAMES_TFJS = tuple(
    name.split('_')[0] + ''.join(word.title() for word in name.split('_')[1:])
    for name in PART_NAMES)


def _ids(pairs):
    return tuple((PART_IDS[a], PART_IDS[b]) for a, b in pairs)


# (parent, child) edges of the tree rooted at the nose. Edge i owns channels i (y) and
# NUM_EDGES + i (x) of the forward (parent -> child) and backward (child -> parent)
# displacement heads, so this order is fixed by the trained network.
POSE_CHAIN = _ids([
    ('nose', 'left_eye'), ('left_eye', 'left_ear'), ('nose', 'right_eye'),
    ('right_eye', 'right_ear'), ('nose', 'left_shoulder'),
    ('left_shoulder', 'left_elbow'), ('left_elbow', 'left_wrist'),
    ('left_shoulder', 'left_hip'), ('left_hip', 'left_knee'),
    ('left_knee', 'left_ankle'), ('nose', 'right_shoulder'),
    ('right_shoulder', 'right_elbow'), ('right_elbow', 'right_wrist'),
    ('right_shoulder', 'right_hip'), ('right_hip', 'right_knee'),
    ('right_knee', 'right_ankle'),
])
NUM_EDGES = len(POSE_CHAIN)

# Limbs drawn between keypoints (the pairs the tfjs demo connects).
SKELETON = _ids([
    ('left_hip', 'left_shoulder'), ('left_elbow', 'left_shoulder'),
    ('left_elbow', 'left_wrist'), ('left_hip', 'left_knee'),
    ('left_knee', 'left_ankle'), ('right_hip', 'right_shoulder'),
    ('right_elbow', 'right_shoulder'), ('right_elbow', 'right_wrist'),
    ('right_hip', 'right_knee'), ('right_knee', 'right_ankle'),
    ('left_shoulder', 'right_shoulder'), ('left_hip', 'right_hip'),
])
