"""ROS-free PoseNet engine: weights, MobileNetV1 network, preprocessing and pose decoding.

Nothing here imports rclpy. One module per step of the algorithm, after tfjs-models posenet.
"""
from .config import EstimateConfig
from .types import EstimateResult, NetworkOutputs, Padding, Pose

__all__ = ['EstimateConfig', 'EstimateResult', 'NetworkOutputs', 'Padding', 'Pose']
