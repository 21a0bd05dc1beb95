"""
ROS-free PoseNet engine: weights, MobileNetV1 network, preprocessing and pose decoding.

Nothing here imports rclpy. One module per step of the algorithm, after tfjs-models posenet.
The estimator and the weight loaders are imported on first use, so importing a light module
such as `engine.types` does not pull in TensorFlow.
"""
from importlib import import_module

from .config import EstimateConfig
from .types import EstimateResult, NetworkOutputs, Padding, Pose

_LAZY = {
    'PoseEstimator': 'estimator',
    'resolve_model': 'model_store',
    'ModelNotFoundError': 'model_store',
    'load_weights': 'weights',
    'poses_from_outputs': 'poses',
}

__all__ = ['EstimateConfig', 'EstimateResult', 'NetworkOutputs', 'Padding', 'Pose', *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(import_module(f'.{_LAZY[name]}', __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
