"""
posenet_node: camera images in, posenet_msgs/PoseArray out, as a managed (lifecycle) node.

Lifecycle (REP-2002 style, `ros2 lifecycle set /posenet_node <transition>`):
  configure   resolve and load the weights, build and warm up the network, create the
              publishers. With the TFLite model in the disk cache this loads no TensorFlow; a
              missing one is converted in a child process and cached. A failure returns to
              unconfigured with the reason logged and shown on /diagnostics.
  activate    subscribe to the input, start the frame worker, enable the publishers.
  deactivate  stop the worker after the frame in progress, drop the subscription (no camera
              traffic while inactive), publish nothing.
  cleanup     free the estimator and the publishers.
  shutdown    from any state.
With `autostart` (default true) the node configures and activates itself at start.

Topics (relative, so namespaces and remapping work as usual):
  image (sensor_msgs/Image), or image/compressed (sensor_msgs/CompressedImage) with
      use_compressed: the input, sensor-data QoS (best effort) unless overridden with the
      standard qos_overrides parameters.
  poses (posenet_msgs/PoseArray, reliable, depth 10): one message per processed frame, also
      when no one is found.
  poses/markers (visualization_msgs/MarkerArray), poses/image (sensor_msgs/Image): only
      computed while someone subscribes (and publish_markers / publish_image are true).
  /diagnostics (diagnostic_msgs/DiagnosticArray, 1 Hz, every state): see ros/diagnostics.py.

Only the newest frame is processed: a worker thread takes it straight from the subscription
(keep last 1; see frame_reader) and runs the frame pipeline (ros/pipeline.py: convert, estimate,
build and publish the PoseArray, visualization). Inference never runs on the executor, so
parameter changes and lifecycle requests are served while a frame is being processed.
"""
from __future__ import annotations

import faulthandler
import importlib.util
import logging
import os
from pathlib import Path
import signal
import sys
import threading
import time

from diagnostic_msgs.msg import DiagnosticArray
from posenet_msgs.msg import PoseArray
from posenet_ros.engine.heap import return_free_memory
from posenet_ros.engine.opencv_pool import limit_opencv_threads
from posenet_ros.ros.depth_input import DepthInput
from posenet_ros.ros.diagnostics import build_diagnostics, HealthInputs
from posenet_ros.ros.frame_reader import NewestFrameReader
from posenet_ros.ros.frame_stats import FrameStats
from posenet_ros.ros.frame_worker import FrameWorker
from posenet_ros.ros.image_conversion import compressed_to_rgb, cv_bridge_status, image_to_rgb
from posenet_ros.ros.image_wire import READERS, reads_like_middleware
from posenet_ros.ros.parameter_guard import guard_parameter_services
from posenet_ros.ros.parameters import describe_config, LiveSettings, PoseNetParameters
from posenet_ros.ros.pipeline import FramePipeline
from posenet_ros.ros.rate_limited_log import RateLimitedLog
from posenet_ros.ros.stages.collector import (collect_everything, freeze_long_lived,
                                              FreezeAfterImportsStage)
from posenet_ros.ros.stages.convert import ConvertStage
from posenet_ros.ros.stages.depth import DepthStage
from posenet_ros.ros.stages.deserialize import DeserializeStage
from posenet_ros.ros.stages.estimate import EstimateStage
from posenet_ros.ros.stages.poses import PeopleStage, PoseArrayStage, PublishPosesStage
from posenet_ros.ros.stages.smoothing import SmoothingStage
from posenet_ros.ros.stages.tracking import TrackingStage
from posenet_ros.ros.stages.visualization import VisualizationStage
import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import HistoryPolicy, qos_profile_sensor_data, QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import CompressedImage, Image
from visualization_msgs.msg import MarkerArray

NODE_NAME = 'posenet_node'
# Sensor data (best effort, volatile) keeping only the newest frame: older ones are never used.
IMAGE_QOS = QoSProfile(depth=1, reliability=qos_profile_sensor_data.reliability,
                       history=HistoryPolicy.KEEP_LAST,
                       durability=qos_profile_sensor_data.durability)
POSES_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                       history=HistoryPolicy.KEEP_LAST)
# Visualization: reliable (so RViz's default subscriptions match) and only the latest.
VISUALIZATION_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                               history=HistoryPolicy.KEEP_LAST)
DIAGNOSTICS_PERIOD_S = 1.0
BAD_INPUT_LOG_PERIOD_S = 5.0  # one line per cause of bad input in this period
DROP_LOG_PERIOD_S = 30.0      # dropped frames are logged this often (diagnostics: every second)
# A frame still in progress after this long, while frames arrive, means the worker is stuck.
STUCK_FRAME_S = 30.0
BUILD_STOP_INTERVAL_S = 0.2  # while a released model's builds end, their children are stopped


class PoseNetNode(LifecycleNode):
    """
    Subscribes to camera images, runs PoseNet on the newest one, publishes the poses.

    stop_requested: a callable telling whether the process was asked to stop (a signal), so
    that a slow configure gives up at its next step.
    """

    def __init__(self, stop_requested=lambda: False, **node_kwargs):
        super().__init__(NODE_NAME, **node_kwargs)
        self._engine_log = _EngineLogForwarder(self.get_logger())
        guard_parameter_services(self)  # a malformed set_parameters request must not end the node
        self._stop_requested = stop_requested
        self.parameters = PoseNetParameters(self, self._on_settings_changed)
        self._bad_input_log = RateLimitedLog(self.get_logger().warning, BAD_INPUT_LOG_PERIOD_S)
        self._failure_log = RateLimitedLog(self.get_logger().error, BAD_INPUT_LOG_PERIOD_S)
        self._state = 'unconfigured'
        self._configure_error = ''
        self._activate_error = ''  # why the last activate failed ('' when it did not)
        self.estimator = None
        self._estimate_stage: EstimateStage | None = None
        self._int8_stage = None  # Int8CalibrationStage while int8 calibrates on first frames
        self._publishers_made: list = []
        self._frames: NewestFrameReader | None = None
        self._depth_input: DepthInput | None = None
        self._depth_stage: DepthStage | None = None
        self._transform_stage = None  # TransformStage while active with target_frame support
        self._worker: FrameWorker | None = None
        # For the node's life: the totals "since start" go on across activations.
        self._stats = FrameStats()
        self._depth_received_before = 0  # depth frames of earlier activations
        # As activate will subscribe (namespace, remapping): /diagnostics names it from the start.
        self._input_topic = self.resolve_topic_name(self._input_topic_name())
        self._counts_seen = (0, 0)       # reader counts at the last diagnostics period
        self._drops_logged = (0, 0)      # reader counts at the last drop log line
        self._stuck_s = 0.0
        self._stuck_held = False  # stuck, and not restarted: the replaced worker is stuck too
        self._worker_died = False  # the worker thread ended in this period (and was restarted)
        # The int8 switch (its calibration thread) against cleanup (the executor): one at a time.
        self._model_lock = threading.Lock()
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._diagnostics_timer = self.create_timer(DIAGNOSTICS_PERIOD_S, self._on_diagnostics)
        self._drop_timer = self.create_timer(DROP_LOG_PERIOD_S, self._report_drops)

    @property
    def autostart(self) -> bool:
        return self.parameters.startup.autostart

    @property
    def configure_error(self) -> str:
        return self._configure_error

    @property
    def activate_error(self) -> str:
        return self._activate_error

    @property
    def state(self) -> str:
        return self._state

    def start_up(self) -> bool:
        """configure, then activate (what `autostart` does); False when either failed."""
        if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            return False
        return self.trigger_activate() == TransitionCallbackReturn.SUCCESS

    # -- lifecycle transitions ---------------------------------------------------------------

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        startup = self.parameters.startup
        try:
            # Building a model not in the cache takes seconds (TensorFlow, in a child process
            # for tflite). A stop request meanwhile ends configure at the next step.
            from posenet_ros.engine.estimator import PoseEstimator
            self._give_up_if_stopping()
            limit_opencv_threads(startup.num_threads)
            self.estimator = PoseEstimator(startup.model, multiplier=startup.multiplier,
                                           device=startup.device, backend=startup.backend,
                                           num_threads=startup.num_threads,
                                           **self._int8_arguments(startup))
            snapping = self.parameters.bind_model(self.estimator.multiplier)
            if snapping:
                self.get_logger().info(snapping)
            self._give_up_if_stopping()
            settings = self.parameters.live
            self.estimator.warmup(settings.config)
            self._give_up_if_stopping()
            self._estimate_stage = EstimateStage(self.estimator, self.get_logger().info,
                                                 self.get_logger().error)
            self._estimate_stage.mark_built(settings.config)
            self._int8_stage = self._int8_calibration_stage(startup)
            self._tracking_stage = TrackingStage(self.get_logger().info)
            self._smoothing_stage = SmoothingStage()
            # A QoS override of `poses` that cannot be used fails here (RuntimeError).
            self._poses_pub = self._lifecycle_publisher(
                PoseArray, 'poses', POSES_QOS,
                qos_overriding_options=QoSOverridingOptions.with_default_policies())
            self._markers_pub = self._lifecycle_publisher(
                MarkerArray, 'poses/markers', VISUALIZATION_QOS)
            self._image_pub = self._lifecycle_publisher(Image, 'poses/image', VISUALIZATION_QOS)
        except _StopRequested:
            self._release_model()
            return TransitionCallbackReturn.FAILURE
        except (ValueError, ParameterException, OSError) as error:
            return self._configure_failed(str(error))
        except Exception as error:  # noqa: BLE001 - unexpected: still reported, not fatal
            return self._configure_failed(f'{type(error).__name__}: {error}')
        self._configure_error = self._activate_error = ''  # a new configure, a new start
        self._state = 'inactive'
        self.get_logger().info(cv_bridge_status()[1])
        self.get_logger().info(
            f'configured: PoseNet {self.estimator.model_name} (multiplier '
            f'{self.estimator.multiplier:g}, {self.estimator.model_path}) on '
            f'{self.estimator.device} with the {self.estimator.backend} backend '
            f'({self.estimator.precision}), {_threads_text(startup.num_threads)}; '
            f'{describe_config(settings)}')
        freeze_long_lived()  # what lives as long as the node, out of the collector's way
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            return self._activate(state)
        except Exception as error:  # noqa: BLE001 - rclpy would swallow it without a word
            self._activate_error = f'{type(error).__name__}: {error}'
            self.get_logger().error(f'activate failed: {self._activate_error}')
            self._stop_frames()  # the model stays: so do its builds
            super().on_deactivate(state)  # the publishers, if they were enabled already
            self._state = 'inactive'
            return TransitionCallbackReturn.FAILURE

    def _activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Subscribe to the frames and start serving them; may raise (on_activate reports it)."""
        startup = self.parameters.startup
        message_type, convert = ((CompressedImage, compressed_to_rgb) if startup.use_compressed
                                 else (Image, image_to_rgb))
        raw = reads_like_middleware(message_type)  # then no Python message copy of a frame
        self._frames = NewestFrameReader(
            self, message_type, self._input_topic_name(), IMAGE_QOS, raw=raw,
            qos_overriding_options=QoSOverridingOptions.with_default_policies())
        self._input_topic = self._frames.topic_name
        self._counts_seen = self._drops_logged = (0, 0)
        self._stats.restart()
        self._pipeline = FramePipeline(
            [*([DeserializeStage(READERS[message_type])] if raw else []),
             ConvertStage(convert),
             *([self._int8_stage] if self._int8_stage is not None else []),
             self._estimate_stage,
             PeopleStage(),
             *self._depth_stages(),
             self._tracking_stage,
             self._smoothing_stage,
             PoseArrayStage(),
             PublishPosesStage(self._poses_pub, lambda: self.get_clock().now().nanoseconds),
             VisualizationStage(self._markers_pub, self._image_pub),
             FreezeAfterImportsStage()],
            self._stats, self._input_topic, self._bad_input_log, self._failure_log)
        result = super().on_activate(state)  # enables the lifecycle publishers
        self._worker = FrameWorker(self._frames, self._process, self._on_worker_error)
        self._worker.start()
        self._state = 'active'
        self._activate_error = ''
        self.get_logger().info(f'active: listening on {self._input_topic}, publishing '
                               f'{self._poses_pub.topic_name}')
        return result

    def _int8_arguments(self, startup) -> dict:
        """
        Return the precision arguments of the PoseEstimator.

        int8 from a saved model or calibrated now on a folder or video; float32 until
        calibrated when int8 comes from the first frames, and on a backend other than tflite.
        """
        if startup.precision != 'int8' or not startup.int8_calibration:
            return {}
        from posenet_ros.engine.network import BACKEND_NAMES, resolve_backend
        backend, device = resolve_backend(startup.backend, startup.device, startup.num_threads)
        if backend in BACKEND_NAMES and backend != 'tflite':  # an unknown one: refused below
            self._int8_stays_float32(backend, device)
            return {}
        from posenet_ros.engine.int8_backend import read_calibration_images
        source = Path(startup.int8_calibration)
        if source.suffix == '.tflite':
            return {'precision': 'int8', 'int8_models': [source.read_bytes()]}
        self.get_logger().info(f'int8: calibrating on {source} (this takes a while)')
        return {'precision': 'int8', 'calibration_images': read_calibration_images(source)}

    def _int8_stays_float32(self, backend: str, device: str) -> None:
        """Say why int8 was not taken: another backend (a GPU's) would run it on the CPU."""
        self.get_logger().warning(
            f'int8: runs on the tflite backend (CPU) only; staying on float32 with the '
            f'{backend} backend on {device}')

    def _int8_calibration_stage(self, startup):
        """With int8 and nothing to calibrate on: the stage calibrating on the first frames."""
        if startup.precision != 'int8' or startup.int8_calibration:
            return None
        if self.estimator.backend != 'tflite':
            self._int8_stays_float32(self.estimator.backend, self.estimator.device)
            return None
        from posenet_ros.engine.estimator import PoseEstimator
        from posenet_ros.engine.int8_backend import find_calibrated_model
        from posenet_ros.ros.stages.int8_calibration import Int8CalibrationStage

        def make_int8(frames=None, model=None):
            return PoseEstimator(startup.model, multiplier=startup.multiplier,
                                 device=startup.device, backend=startup.backend,
                                 num_threads=startup.num_threads, precision='int8',
                                 calibration_images=frames or (),
                                 int8_models=[model] if model is not None else ())

        def find_saved(height, width, stride):
            return find_calibrated_model(self.estimator.model_path, self.estimator.multiplier,
                                         height, width, stride)

        estimate_stage = self._estimate_stage

        def switch(estimator, ready):
            with self._model_lock:
                if self._estimate_stage is not estimate_stage:
                    return  # cleaned up (and maybe configured again) while it was being made
                estimate_stage.use_estimator(estimator, ready)
                self.estimator = estimator

        self.get_logger().info(
            'int8: no calibrated model given; running float32 until a model calibrated earlier '
            f"for the camera frames' size is found, or {startup.int8_calibration_frames} "
            'camera frames are calibrated on')
        return Int8CalibrationStage(startup.int8_calibration_frames, find_saved, make_int8,
                                    switch, self.get_logger().info, self.get_logger().error)

    def _depth_stages(self) -> list:
        """
        Return the depth stages (with use_depth): depth and camera_info subscribed.

        Positions from them (and moved into target_frame where tf2 is installed).
        """
        if not self.parameters.startup.use_depth:
            return []
        self._depth_input = DepthInput(self)
        self._depth_stage = DepthStage(self._depth_input, self._bad_input_log)
        stages = [self._depth_stage]
        if importlib.util.find_spec('tf2_ros') is not None:
            from posenet_ros.ros.stages.transform import TransformStage
            self._transform_stage = TransformStage(self, self._bad_input_log)
            stages.append(self._transform_stage)
        self.get_logger().info(f'people in 3D: depth from {self._depth_input.depth_topic}, camera '
                               f'model from {self._depth_input.info_topic}')
        return stages

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_frames()
        self._state = 'inactive'
        self.get_logger().info('inactive: input unsubscribed, nothing published')
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release_model()
        self._state = 'unconfigured'
        self.get_logger().info('cleaned up: model released')
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_frames()
        self._release_model()
        self._state = 'finalized'
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.get_logger().error(f'error in a transition from {state.label}; back to unconfigured')
        self._stop_frames()
        self._release_model()
        self._state = 'unconfigured'
        return TransitionCallbackReturn.SUCCESS

    def shut_down(self) -> None:
        """Stop everything (the process is ending), whatever the state."""
        try:
            if self._state in ('unconfigured', 'inactive', 'active'):
                self.trigger_shutdown()
        except Exception:  # noqa: BLE001 - ending anyway: make sure nothing is left running
            pass
        self._stop_frames()
        self._wait_for_builds()
        self._engine_log.close()

    # -- frames --------------------------------------------------------------------------------

    def _process(self, message) -> None:
        worker = self._worker  # a frame of a worker replaced by the watchdog is dropped
        if worker is None:  # deactivating: a frame taken as the worker was let go goes unpublished
            return
        self._pipeline.run(message, self.parameters.live,  # one settings snapshot per frame
                           still_current=worker.is_current)

    def _on_worker_error(self, error: BaseException, stage: str) -> None:
        """Log what the pipeline did not handle itself (the worker goes on with the next frame)."""
        if self._state != 'active' or not self.context.ok():
            return  # stopping: the subscription or publishers may already be gone
        what = 'take a frame from' if stage == 'take' else 'process a frame from'
        self._failure_log(f'could not {what} {self._input_topic}: {type(error).__name__}: {error}')

    def _stop_frames(self) -> None:
        """
        Stop the worker (a frame in progress ends at its next stage) and drop the subscription.

        A network build or int8 calibration in the background goes on, to be used after the
        next activate (a lifecycle manager's deactivate does not wait minutes); releasing the
        model ends it (`_release_model`).
        """
        worker, self._worker = self._worker, None
        if worker is not None:
            if not worker.stop(timeout_s=30.0):
                self.get_logger().warning('the frame worker did not stop within 30 s')
        frames, self._frames = self._frames, None
        if frames is not None:
            frames.destroy(self)
        depth_input, self._depth_input = self._depth_input, None
        if depth_input is not None:
            depth_input.destroy(self)
            self._depth_received_before += depth_input.depth_received
        transform_stage, self._transform_stage = self._transform_stage, None
        if transform_stage is not None:
            transform_stage.close()  # its /tf subscriptions; activate makes a new one

    def _wait_for_builds(self) -> None:
        """
        End the network builds and int8 calibration in progress, for the model is going.

        Those in child processes (the node without TensorFlow) are stopped at once, and again
        while waiting (a child started just after a stop); one in this process is waited for,
        up to 30 s (a network) and 120 s (int8).
        """
        from posenet_ros.engine.tflite_build import stop_child_builds
        waits = []  # (wait(timeout_s) -> whether finished, the most to wait)
        if self._estimate_stage is not None:
            waits.append((self._estimate_stage.wait_for_build, 30.0))
        if self._int8_stage is not None:
            waits.append((self._int8_stage.wait, 120.0))
        stopped = stop_child_builds()
        for stage_wait, timeout_s in waits:
            deadline = time.monotonic() + timeout_s
            while not stage_wait(max(0.0, min(BUILD_STOP_INTERVAL_S,
                                              deadline - time.monotonic()))):
                if time.monotonic() >= deadline:
                    break
                stopped += stop_child_builds()
        if stopped:
            self.get_logger().info(f'stopped {stopped} model build(s) in progress: the model '
                                   'is released')

    def _release_model(self) -> None:
        self._wait_for_builds()
        for publisher in self._publishers_made:
            self.destroy_lifecycle_publisher(publisher)
        self._publishers_made = []
        with self._model_lock:  # an int8 switch in flight sees the stage gone, or went first
            self._estimate_stage = self._int8_stage = None
            self.estimator = None
        self._tracking_stage = self._smoothing_stage = self._depth_stage = None
        self._pipeline = None
        self.parameters.unbind_model()
        collect_everything()
        return_free_memory()

    def _lifecycle_publisher(self, *args, **kwargs):
        publisher = self.create_lifecycle_publisher(*args, **kwargs)
        self._publishers_made.append(publisher)
        return publisher

    def _configure_failed(self, reason: str) -> TransitionCallbackReturn:
        self._configure_error = reason
        self._release_model()
        self.get_logger().error(f'configure failed: {reason}')
        return TransitionCallbackReturn.FAILURE

    def _give_up_if_stopping(self) -> None:
        if self._stop_requested() or not self.context.ok():
            raise _StopRequested

    def _input_topic_name(self) -> str:
        return 'image/compressed' if self.parameters.startup.use_compressed else 'image'

    # -- health --------------------------------------------------------------------------------

    def _on_diagnostics(self) -> None:
        self._watch_worker()
        self._diagnostics_pub.publish(build_diagnostics(
            self.get_name(), self._hardware_id(), self._health(),
            stamp=self.get_clock().now().to_msg()))

    def _health(self) -> HealthInputs:
        inputs = HealthInputs(
            state=self._state, configure_error=self._configure_error,
            activate_error=self._activate_error,
            input_topic=self._input_topic,
            input_timeout_s=self.parameters.live.diagnostics_input_timeout,
            use_depth=self.parameters.startup.use_depth,
            model=self._model_values())
        frames, worker, stats = self._frames, self._worker, self._stats
        if self._state == 'active' and frames is not None:
            received, dropped = frames.counts()
            inputs.input_raw = frames.raw
            inputs.received = received - self._counts_seen[0]
            inputs.dropped = dropped - self._counts_seen[1]
            self._counts_seen = (received, dropped)
            inputs.period = stats.take()
            if frames.last_arrival is not None:
                inputs.seconds_since_frame = time.monotonic() - frames.last_arrival
            if worker is not None:
                inputs.worker_alive = worker.alive
                inputs.worker_died = self._worker_died
                inputs.busy_s = worker.seconds_in_frame()
                if inputs.busy_s > 0:  # taking no frames: whether they wait, the graph tells
                    inputs.input_publishers = self.count_publishers(frames.topic_name)
                inputs.worker_restarts = worker.restarts
                inputs.worker_stuck_s = self._stuck_s
                inputs.worker_stuck_held = self._stuck_held
            if self._depth_stage is not None and self._depth_input is not None:
                inputs.depth = (*self._depth_stage.counts.take(),
                                self._depth_received_before + self._depth_input.depth_received)
            tracker = None if self._tracking_stage is None else self._tracking_stage.tracker
            if tracker is not None:
                inputs.tracks = (len(tracker.active_ids), tracker.ids_issued)
        return inputs

    def _model_values(self) -> dict:
        estimator = self.estimator
        if estimator is None:
            return {}
        config = self.parameters.live.config
        network = None if self._estimate_stage is None else self._estimate_stage.in_use
        height, width, stride = network or (config.input_height, config.input_width,
                                            config.output_stride)
        return {'model': estimator.model_name, 'multiplier': f'{estimator.multiplier:g}',
                'device': estimator.device, 'backend': estimator.backend,
                'output stride': stride, 'input size': f'{width}x{height}',
                'decoding': config.decoding}

    def _hardware_id(self) -> str:
        estimator = self.estimator
        return f'posenet ({estimator.device})' if estimator is not None else 'posenet'

    def _watch_worker(self) -> None:
        """Restart the worker if it died, or if it is stuck in one frame while a camera sends."""
        worker, frames = self._worker, self._frames
        self._stuck_s = 0.0
        self._stuck_held = False
        self._worker_died = False
        if self._state != 'active' or worker is None or frames is None:
            return
        if not worker.alive:
            self.get_logger().error(
                'the frame worker thread has ended unexpectedly; restarting it')
            worker.restart()
            self._worker_died = True  # this period's processing status is an ERROR saying so
            return
        stuck_s = worker.seconds_in_frame()
        # The worker takes the frames itself, so while stuck it takes none: whether frames
        # wait is told by the publishers on the input topic.
        if stuck_s > STUCK_FRAME_S and self.count_publishers(frames.topic_name) > 0:
            self._stuck_s = stuck_s
            if worker.replaced_alive:
                # Its hang is likely shared (a lock both wait on): another thread would only
                # join them, one more every STUCK_FRAME_S. Reported until one comes back.
                self._stuck_held = True
                self._failure_log(
                    f'the frame worker has been on one frame for {stuck_s:.0f} s and the one '
                    f'it replaced is still stuck; not starting another')
                return
            self.get_logger().error(
                f'the frame worker has been on one frame for {stuck_s:.0f} s while '
                f'{frames.topic_name} has a publisher; starting a new worker thread')
            worker.restart()

    def _report_drops(self) -> None:
        frames = self._frames
        if frames is None:
            return
        received, dropped = frames.counts()
        new_received = received - self._drops_logged[0]
        new_dropped = dropped - self._drops_logged[1]
        self._drops_logged = (received, dropped)
        if new_dropped:
            self.get_logger().info(
                f'dropped {new_dropped} of {new_received} frames in the last '
                f'{DROP_LOG_PERIOD_S:g} s (frames came faster than they were processed and only '
                "the newest is kept, or were lost on the way; counted from the publishers' "
                'sequence numbers)')

    def _on_settings_changed(self, settings: LiveSettings, note: str) -> None:
        self.get_logger().info(
            f'parameters set: {describe_config(settings)}' + (f'; {note}' if note else ''))


class _EngineLogForwarder(logging.Handler):
    """The engine's log lines (model cache, model builds) in the node's ROS log."""

    def __init__(self, ros_logger):
        super().__init__(logging.INFO)
        self._ros_logger = ros_logger
        self._engine_logger = logging.getLogger('posenet_ros.engine')
        self._engine_logger.setLevel(logging.INFO)
        self._engine_logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.levelno >= logging.ERROR:
            self._ros_logger.error(message)
        elif record.levelno >= logging.WARNING:
            self._ros_logger.warning(message)
        else:
            self._ros_logger.info(message)

    def close(self) -> None:
        self._engine_logger.removeHandler(self)
        super().close()


class _StopRequested(Exception):
    """The process is stopping: a transition in progress gives up."""


def _threads_text(num_threads: int) -> str:
    return f'{num_threads} thread(s)' if num_threads else 'threads on every core'


def main(args=None) -> int:
    """Run `posenet_node` (see node_main): exit code 0 on Ctrl-C, 1 with one line on bad setup."""
    from posenet_ros.ros.node_main import main as node_main
    return node_main(args)


def run(stop_requested, args=None) -> int:
    """Run the node until a stop is requested; 0, or 1 after one clear line on a bad setup."""
    # Quiet TensorFlow's C++ chatter unless the user asked for it (TensorFlow loads later).
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    # `kill -USR1 <pid>` prints every thread's stack to stderr: a hang can be diagnosed live.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    node = None
    code = 0
    try:
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
        node = PoseNetNode(stop_requested=stop_requested)
        if node.autostart and not stop_requested() and not node.start_up():
            if not stop_requested():
                _fail('cannot start: ' + (node.configure_error or node.activate_error
                                          or 'activation failed'))
                code = 1
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        while code == 0 and not stop_requested() and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
    except ExternalShutdownException:
        pass
    except (ValueError, ParameterException) as error:
        if not stop_requested():
            _fail(f'cannot start: {error}')  # bad parameters, refused before configure
            code = 1
    finally:
        if node is not None:
            node.shut_down()
            node.destroy_node()
        rclpy.try_shutdown()
    return code


def _fail(message: str) -> None:
    print(f'[{NODE_NAME}] ERROR: {message}', file=sys.stderr, flush=True)


if __name__ == '__main__':
    sys.exit(main())
