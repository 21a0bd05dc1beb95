"""
posenet_node's parameters: their declaration, validation, and the settings they make.

Every parameter is declared with a ParameterDescriptor (description, range, read_only). The live
ones can be changed while the node runs (`ros2 param set`, the `set_parameters` service); each
change is checked as a whole through `EstimateConfig.check` and either refused with the reason
(the old value stays) or used from the next frame on, without a restart or a weights reload.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import importlib.util
import math
from typing import Any, Callable, Mapping

from posenet_ros.engine.config import (DECODINGS, DEVICES, EstimateConfig, MAX_INPUT_ASPECT_RATIO,
                                       MAX_INPUT_SIDE, MIN_INPUT_SIDE)
from posenet_ros.engine.depth import DepthConfig
from posenet_ros.engine.parts import NUM_KEYPOINTS
from posenet_ros.engine.smoothing import OneEuroConfig
from posenet_ros.engine.tracking import TrackerConfig
from rcl_interfaces.msg import (
    FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult)
from rclpy.node import Node
from rclpy.parameter import Parameter


@dataclass(frozen=True)
class ParameterSpec:
    """One parameter: its default (which fixes its type), what it means and its allowed values."""

    name: str
    default: bool | int | float | str
    description: str
    read_only: bool = False
    integer_range: tuple[int, int, int] | None = None  # from, to, step
    float_range: tuple[float, float] | None = None  # from, to (any value between)
    constraints: str = ''

    def descriptor(self) -> ParameterDescriptor:
        descriptor = ParameterDescriptor(
            name=self.name, type=Parameter.Type.from_parameter_value(self.default).value,
            description=self.description, additional_constraints=self.constraints,
            read_only=self.read_only)
        if self.integer_range is not None:
            start, end, step = self.integer_range
            descriptor.integer_range = [IntegerRange(from_value=start, to_value=end, step=step)]
        if self.float_range is not None:
            start, end = self.float_range
            descriptor.floating_point_range = [
                FloatingPointRange(from_value=start, to_value=end, step=0.0)]
        return descriptor


# The defaults suit a 640x480 camera at 30 Hz on a laptop CPU and give PoseNet's own results.
# config/posenet.yaml is the ready configuration the launch files load: it sets every parameter
# and changes several of these defaults (int8, a larger input of the image's aspect ratio,
# keypoint refinement, smoothing, other thresholds); its comments say why.
PARAMETERS = (
    # Read-only: a change would need the weights reloaded or the subscription remade.
    ParameterSpec(
        'model', 'mobilenet_quant2_075',
        'PoseNet weights: a name (mobilenet_float_050|075|100, mobilenet_quant2_050|075|100, '
        'mobilenet_quant1_050|075|100, mobilenet_v1_050|075|100|101_weights), looked up in '
        '$POSENET_MODELS, then the cache, then downloaded; or the path of a folder holding them. '
        'The name sets the MobileNetV1 width multiplier.', read_only=True),
    ParameterSpec(
        'multiplier', 0.0,
        'MobileNetV1 width multiplier (0.5, 0.75, 1.0 or 1.01) when `model` is a folder whose '
        'weights do not tell; 0 means: from the weights.',
        read_only=True, float_range=(0.0, 1.01)),
    ParameterSpec(
        'device', 'auto',
        'Where TensorFlow runs: auto (a GPU when TensorFlow sees one), cpu, gpu.',
        read_only=True, constraints='auto, cpu or gpu'),
    ParameterSpec(
        'backend', '',
        'Inference path of the engine (e.g. function, xla, tflite, eager); empty: the fastest one '
        'that keeps parity with the original PoseNet.', read_only=True),
    ParameterSpec(
        'num_threads', 0,
        "Threads inference may use (XNNPACK for tflite, TensorFlow's intra- and inter-op pools "
        "otherwise, and OpenCV's image conversion); 0: every core. Fewer leave cores to the "
        'rest of the robot.', read_only=True, integer_range=(0, 1024, 1)),
    ParameterSpec(
        'precision', 'float32',
        "float32 (the original PoseNet's results) or int8 (TFLite only: the network in about "
        '0.4x the time, COCO AP within 0.01; docs/int8.md). Read-only: an int8 model is '
        'calibrated per input size (tens of seconds), far more than building a size costs.',
        read_only=True, constraints='float32 or int8'),
    ParameterSpec(
        'int8_calibration', '',
        'With precision int8: a .tflite made by posenet_quantize for the input size in use, or a '
        'folder of photos or a video to calibrate on at configure; empty: calibrate on the '
        'first int8_calibration_frames camera frames while float32 serves them, then switch.',
        read_only=True),
    ParameterSpec(
        'int8_calibration_frames', 48,
        'With precision int8 and no int8_calibration: camera frames calibrated on (one in '
        'every 5, so they differ).', read_only=True,
        integer_range=(1, 1000, 1)),
    ParameterSpec(
        'autostart', True,
        'Configure and activate at start (lifecycle), so the node runs without a lifecycle '
        'manager; false: it waits unconfigured for `ros2 lifecycle set` or a manager.',
        read_only=True),
    ParameterSpec(
        'use_depth', False,
        'Also subscribe to depth/image (sensor_msgs/Image registered to the colour image: 16UC1 '
        "millimetres or 32FC1 metres, REP 118) and camera_info (the colour camera's "
        'sensor_msgs/CameraInfo), and give every keypoint and person a position in metres.',
        read_only=True),
    ParameterSpec(
        'use_compressed', False,
        'Subscribe to image/compressed (sensor_msgs/CompressedImage, JPEG or PNG) instead of '
        'image (sensor_msgs/Image).', read_only=True),
    # Live: used from the next frame.
    ParameterSpec(
        'output_stride', 16,
        'Output stride of the network: 8 (finer, about 3x slower) or 16; 32 only with multiplier '
        '1.0 or 1.01.', integer_range=(8, 32, 8),
        constraints='8, 16, or 32 where the multiplier allows'),
    ParameterSpec(
        'input_width', 481,
        'Width in pixels the image is resized to (after zero padding to this aspect ratio) before '
        'the network. Snapped to floor(width / output_stride) * output_stride + 1 (as PoseNet '
        'does); the snapped value is logged and used.',
        integer_range=(1, MAX_INPUT_SIDE, 1),
        constraints=f'at least {MIN_INPUT_SIDE} after snapping; the longer input side at most '
                    f'{MAX_INPUT_ASPECT_RATIO:g}x the shorter unless match_aspect_ratio'),
    ParameterSpec(
        'input_height', 353,
        'Height in pixels the image is resized to before the network. Snapped like input_width.',
        integer_range=(1, MAX_INPUT_SIDE, 1),
        constraints=f'at least {MIN_INPUT_SIDE} after snapping; see input_width'),
    ParameterSpec(
        'decoding', 'multi',
        'Pose decoding: single (one person, fastest) or multi (up to max_pose_detections people).',
        constraints=' or '.join(DECODINGS)),
    ParameterSpec(
        'max_pose_detections', 5, 'Multi-pose decoding: most poses returned per image.',
        integer_range=(1, 100, 1)),
    ParameterSpec(
        'score_threshold', 0.5,
        'Multi-pose decoding: lowest part score for a part to start (be the root of) a pose, as '
        'in PoseNet.', float_range=(0.0, 1.0)),
    ParameterSpec(
        'nms_radius', 20.0,
        'Multi-pose decoding: a part closer than this to the same part of an earlier pose is not '
        'used again, as in PoseNet. Pixels at model input (not source image).',
        float_range=(0.0, 8192.0), constraints='greater than 0'),
    ParameterSpec(
        'flip_horizontal', False,
        'Mirror the poses left-right (for a mirrored camera image): x becomes width - 1 - x; part '
        'names are kept, as in PoseNet.'),
    # Beyond the original PoseNet (docs/accuracy.md measures each); the defaults are PoseNet's.
    ParameterSpec(
        'match_aspect_ratio', False,
        "Per image, use the valid input size of the image's own aspect ratio with at most "
        'input_width x input_height pixels, so that none go to zero padding.'),
    ParameterSpec(
        'flip_test', False,
        'Also run the mirrored image and average both network outputs before decoding (about '
        'twice the inference time).'),
    ParameterSpec(
        'refine_keypoints', False,
        'Move each keypoint to the score-weighted vote of the 3x3 heatmap cells around it.'),
    ParameterSpec(
        'pose_score_keypoints', NUM_KEYPOINTS,
        "Pose score from the best this-many keypoint scores; 17 gives PoseNet's score.",
        integer_range=(1, NUM_KEYPOINTS, 1)),
    ParameterSpec(
        'min_pose_score', 0.15, 'Poses scoring below this are not published.',
        float_range=(0.0, 1.0)),
    ParameterSpec(
        'min_keypoint_score', 0.1,
        'Keypoints scoring below this are not drawn (poses/markers, poses/image). poses always '
        'carries all 17 keypoints with their scores.', float_range=(0.0, 1.0)),
    ParameterSpec(
        'publish_markers', True,
        'Publish poses/markers (visualization_msgs/MarkerArray) while it has subscribers.'),
    ParameterSpec(
        'publish_image', True,
        'Publish poses/image (the input image with the skeletons drawn) while it has '
        'subscribers.'),
    ParameterSpec(
        'marker_pixel_size', 0.002,
        'poses/markers: metres per image pixel. Markers lie in the image plane of the camera '
        'frame (x right, y down, z = 0) at this scale.', float_range=(1e-6, 1.0)),
    # People in 3D, tracking and smoothing.
    ParameterSpec(
        'depth_max_delay', 0.05,
        'use_depth: the depth frame nearest in time to a colour frame is used when its stamp is '
        'at most this many seconds away; otherwise the poses go out without positions.',
        float_range=(0.0, 10.0)),
    ParameterSpec(
        'depth_window', 5,
        "use_depth: side in depth pixels of the square around a keypoint whose valid readings' "
        'median is its depth (odd).', integer_range=(1, 31, 2)),
    ParameterSpec(
        'depth_min', 0.2, 'use_depth: depth readings nearer than this (metres) are ignored.',
        float_range=(0.0, 100.0)),
    ParameterSpec(
        'depth_max', 10.0, 'use_depth: depth readings farther than this (metres) are ignored.',
        float_range=(0.0, 100.0)),
    ParameterSpec(
        'image_rectified', False,
        'use_depth: the colour image is rectified (image_rect), so pixels are deprojected with '
        "camera_info's P; false: with K and the distortion D."),
    ParameterSpec(
        'depth_same_frame', True,
        'use_depth: refuse depth frames and a camera_info whose frame_id is not the colour '
        "image's (not registered to it); false: take them all the same (depth registered to "
        "the image under another frame's name, e.g. a RealSense's depth with its infra1 image)."),
    ParameterSpec(
        'target_frame', '',
        "Frame to give positions in (transformed with tf2 at the image's stamp); empty: the "
        "camera's optical frame (header.frame_id). Needs tf2_ros."),
    ParameterSpec(
        'tracking', True,
        'Give each person an id that lasts across frames (Pose.id; 0 when off or not confirmed '
        'yet).'),
    ParameterSpec(
        'track_min_hits', 3, 'Frames in a row a new person must be seen before getting an id.',
        integer_range=(1, 100, 1)),
    ParameterSpec(
        'track_max_age', 1.0,
        'Seconds a person may go unseen (occluded, out of view) and keep their id.',
        float_range=(0.01, 3600.0)),
    ParameterSpec(
        'smoothing', False,
        'One-Euro filter every keypoint of every tracked person, in pixels and metres (needs '
        "tracking). Off gives PoseNet's own keypoints."),
    ParameterSpec(
        'smoothing_min_cutoff', 1.0,
        'One-Euro cutoff at rest (Hz): lower smooths a still person more, with more lag.',
        float_range=(0.001, 1000.0)),
    ParameterSpec(
        'smoothing_beta', 0.05,
        'One-Euro speed coefficient for pixels (per px/s): higher follows fast motion with less '
        'lag.', float_range=(0.0, 1000.0)),
    ParameterSpec(
        'smoothing_beta_3d', 10.0,
        'One-Euro speed coefficient for positions in metres (per m/s).',
        float_range=(0.0, 100000.0)),
    ParameterSpec(
        'smoothing_d_cutoff', 1.0, 'One-Euro cutoff of the speed estimate (Hz).',
        float_range=(0.001, 1000.0)),
    ParameterSpec(
        'diagnostics_input_timeout', 2.0,
        'Seconds without an input frame, while active, after which /diagnostics reports WARN.',
        float_range=(0.1, 3600.0)),
)
SPECS = {spec.name: spec for spec in PARAMETERS}
READ_ONLY = tuple(spec.name for spec in PARAMETERS if spec.read_only)
LIVE = tuple(spec.name for spec in PARAMETERS if not spec.read_only)


@dataclass(frozen=True)
class StartupSettings:
    """What the read-only parameters fix for the node's lifetime."""

    model: str
    multiplier: float | None
    device: str
    backend: str | None
    num_threads: int
    use_compressed: bool
    autostart: bool
    use_depth: bool
    precision: str = 'float32'
    int8_calibration: str = ''
    int8_calibration_frames: int = 48


@dataclass(frozen=True)
class LiveSettings:
    """What the live parameters set for the next frame. `config` is already snapped."""

    config: EstimateConfig
    min_pose_score: float
    min_keypoint_score: float
    publish_markers: bool
    publish_image: bool
    marker_pixel_size: float
    diagnostics_input_timeout: float
    depth: DepthConfig
    depth_max_delay: float
    image_rectified: bool
    depth_same_frame: bool
    target_frame: str
    tracking: bool
    tracker: TrackerConfig
    smoothing: bool
    pixel_smoothing: OneEuroConfig
    metric_smoothing: OneEuroConfig


def startup_settings(values: Mapping[str, Any]) -> StartupSettings:
    """Return the read-only settings; ValueError with the reason when one is unusable."""
    model = str(values['model']).strip()
    if not model:
        raise ValueError('model must name PoseNet weights or a folder holding them')
    device = str(values['device']).strip().lower()
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {values['device']!r}")
    multiplier = float(values['multiplier'])
    num_threads = int(values['num_threads'])
    if num_threads < 0:
        raise ValueError(
            f'num_threads must be 0 (every core) or a positive count, got {num_threads}')
    precision = str(values['precision']).strip().lower()
    if precision not in ('float32', 'int8'):
        raise ValueError(f"precision must be float32 or int8, got {values['precision']!r}")
    return StartupSettings(
        model=model, multiplier=multiplier if multiplier > 0.0 else None, device=device,
        backend=str(values['backend']).strip() or None, num_threads=num_threads,
        use_compressed=bool(values['use_compressed']), autostart=bool(values['autostart']),
        use_depth=bool(values['use_depth']), precision=precision,
        int8_calibration=str(values['int8_calibration']).strip(),
        int8_calibration_frames=int(values['int8_calibration_frames']))


def live_settings(values: Mapping[str, Any], multiplier: float | None) -> LiveSettings:
    """Return the settings the live values make; ValueError with the reason when they don't fit."""
    config = EstimateConfig(
        output_stride=int(values['output_stride']),
        input_height=int(values['input_height']),
        input_width=int(values['input_width']),
        decoding=str(values['decoding']),
        max_pose_detections=int(values['max_pose_detections']),
        score_threshold=float(values['score_threshold']),
        nms_radius=float(values['nms_radius']),
        flip_horizontal=bool(values['flip_horizontal']),
        match_aspect_ratio=bool(values['match_aspect_ratio']),
        flip_test=bool(values['flip_test']),
        refine_keypoints=bool(values['refine_keypoints']),
        pose_score_keypoints=int(values['pose_score_keypoints']))
    config.check(multiplier)
    for name in ('min_pose_score', 'min_keypoint_score'):
        if not 0.0 <= float(values[name]) <= 1.0:
            raise ValueError(f'{name} must be between 0 and 1, got {values[name]}')
    if not float(values['marker_pixel_size']) > 0.0:
        raise ValueError(f"marker_pixel_size must be positive, got {values['marker_pixel_size']}")
    if not float(values['diagnostics_input_timeout']) > 0.0:
        raise ValueError('diagnostics_input_timeout must be a positive number of seconds, got '
                         f"{values['diagnostics_input_timeout']}")
    return LiveSettings(
        config=config.snapped(),
        min_pose_score=float(values['min_pose_score']),
        min_keypoint_score=float(values['min_keypoint_score']),
        publish_markers=bool(values['publish_markers']),
        publish_image=bool(values['publish_image']),
        marker_pixel_size=float(values['marker_pixel_size']),
        diagnostics_input_timeout=float(values['diagnostics_input_timeout']),
        depth=_depth_config(values),
        depth_max_delay=_non_negative(values, 'depth_max_delay'),
        image_rectified=bool(values['image_rectified']),
        depth_same_frame=bool(values['depth_same_frame']),
        target_frame=_target_frame(values['target_frame']),
        tracking=bool(values['tracking']),
        tracker=dataclasses.replace(
            TrackerConfig(), min_hits=int(values['track_min_hits']),
            max_age=float(values['track_max_age'])).check(),
        smoothing=bool(values['smoothing']),
        pixel_smoothing=OneEuroConfig(
            min_cutoff=float(values['smoothing_min_cutoff']), beta=float(values['smoothing_beta']),
            d_cutoff=float(values['smoothing_d_cutoff'])).check(),
        metric_smoothing=OneEuroConfig(
            min_cutoff=float(values['smoothing_min_cutoff']),
            beta=float(values['smoothing_beta_3d']),
            d_cutoff=float(values['smoothing_d_cutoff'])).check())


def _non_negative(values: Mapping[str, Any], name: str) -> float:
    value = float(values[name])
    if not (math.isfinite(value) and value >= 0.0):
        raise ValueError(f'{name} must be a number of seconds >= 0, got {values[name]}')
    return value


def _depth_config(values: dict) -> DepthConfig:
    """
    Return the depth reading settings.

    A window of one pixel (1x1) is its own only reading: it needs one reading, not the default
    three, which its 1 pixel could never give.
    """
    window = int(values['depth_window'])
    return DepthConfig(window=window, depth_min=float(values['depth_min']),
                       depth_max=float(values['depth_max']),
                       min_support=min(DepthConfig.min_support, window * window)).check()


def _target_frame(value: str) -> str:
    """Return the target frame, refused with the reason where tf2_ros is not installed."""
    frame = str(value).strip()
    if frame and importlib.util.find_spec('tf2_ros') is None:
        raise ValueError(
            f"target_frame '{frame}' needs tf2_ros to transform positions, and tf2_ros is not "
            'installed here (it comes with every ROS 2 install: '
            'apt install ros-$ROS_DISTRO-tf2-ros); '
            "leave target_frame empty for positions in the camera's optical frame")
    return frame


def snapping_note(values: Mapping[str, Any], settings: LiveSettings) -> str:
    """Say which requested input sides were snapped, and to what ('' when none was)."""
    stride = settings.config.output_stride
    notes = [
        f'{name} {int(values[name])} snapped to {getattr(settings.config, name)}'
        for name in ('input_width', 'input_height')
        if int(values[name]) != getattr(settings.config, name)]
    if not notes:
        return ''
    return (f"{' and '.join(notes)} (the network takes k * {stride} + 1 pixels at output "
            f'stride {stride})')


class PoseNetParameters:
    """
    Declares posenet_node's parameters on a node and keeps the settings they make.

    `live` always holds settings that passed validation; the node reads it once per frame, so a
    change applies whole from the next frame. Changes are taken in every lifecycle state: before
    a model is loaded they are checked without it, and `bind_model` checks them against the
    loaded model's multiplier (e.g. output stride 32 needs 1.0). `on_change(settings, note)` is
    called after an accepted change that alters the settings. Raises ValueError with the reason
    when the starting values cannot work.
    """

    def __init__(self, node: Node,
                 on_change: Callable[[LiveSettings, str], None] | None = None):
        self._node = node
        for spec in PARAMETERS:
            node.declare_parameter(spec.name, spec.default, spec.descriptor())
        self._values = {spec.name: node.get_parameter(spec.name).value for spec in PARAMETERS}
        self.startup = startup_settings(self._values)
        self._multiplier: float | None = None
        self.live: LiveSettings = live_settings(self._values, None)
        self._on_change = on_change
        node.add_on_set_parameters_callback(self._on_set_parameters)

    def bind_model(self, multiplier: float) -> str:
        """
        Check the live values against a loaded model's multiplier, and later changes too.

        Raises ValueError with the reason; returns the snapping note.
        """
        self.live = live_settings(self._values, multiplier)
        self._multiplier = multiplier
        return snapping_note(self._values, self.live)

    def unbind_model(self) -> None:
        """No model loaded any more (cleanup): changes are checked without one."""
        self._multiplier = None

    def _on_set_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        ours = [p for p in parameters if p.name in SPECS]
        if not ours:
            return SetParametersResult(successful=True)
        values = dict(self._values)
        for parameter in ours:
            values[parameter.name] = parameter.value
        try:
            settings = live_settings(values, self._multiplier)
        except (ValueError, TypeError) as error:
            return SetParametersResult(successful=False, reason=str(error))
        note = snapping_note(values, settings)
        changed = settings != self.live
        self._values = values
        self.live = settings
        if changed and self._on_change is not None:
            self._on_change(settings, note)
        return SetParametersResult(successful=True, reason=note)


def describe_config(settings: LiveSettings) -> str:
    """One line for the log: the estimation settings in force."""
    config = settings.config
    text = (f'output stride {config.output_stride}, input {config.input_width}x'
            f'{config.input_height} (width x height), {config.decoding} decoding')
    if config.decoding == 'multi':
        text += (f' (max {config.max_pose_detections} poses, score threshold '
                 f'{config.score_threshold:g}, NMS radius {config.nms_radius:g} px)')
    if config.flip_horizontal:
        text += ', flipped horizontally'
    extras = [name for name in ('match_aspect_ratio', 'flip_test', 'refine_keypoints')
              if getattr(config, name)]
    if config.pose_score_keypoints != NUM_KEYPOINTS:
        extras.append(f'pose score from the best {config.pose_score_keypoints} keypoints')
    if extras:
        text += '; beyond PoseNet: ' + ', '.join(extras)
    return text
