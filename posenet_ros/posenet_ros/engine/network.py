"""
Run PoseNet's network on an image: preprocessing + MobileNetV1 + heads, on a chosen backend.

The backends ('tflite', 'function', 'xla', 'eager') are described in `backends`; they all give
the same outputs within float32 tolerance. Weights become TensorFlow constants once per
PoseNetwork, where a graph is built; switching stride or input size only builds (and caches)
another graph or TFLite model over the same constants. Nothing here imports TensorFlow: on a CPU
with the TFLite model in the disk cache it is never loaded (`tf_runtime`).
"""
from __future__ import annotations

import numpy as np

from .backends import backend_class, BACKEND_NAMES, InferenceBackend
from .config import check_precision
from .config import DEVICES
from .layer_plan import HEAD_SPLITS
from .preprocess import compute_padding
from .tf_runtime import gpu_device_present, import_tensorflow
from .types import NetworkOutputs, Padding
from .weights import ModelWeights

BACKENDS = BACKEND_NAMES


def resolve_device(device: str, num_threads: int = 0) -> str:
    """
    'auto' | 'cpu' | 'gpu' -> a TensorFlow device string ('/CPU:0' or '/GPU:0').

    'auto' asks TensorFlow whether it sees a GPU only where a GPU device exists, so a machine
    without one resolves to the CPU without loading TensorFlow; so does one with a GPU but
    only LiteRT installed (the cached models run on the CPU).
    """
    if device not in DEVICES:
        raise ValueError(f'device must be one of {DEVICES}, got {device!r}')
    if device == 'cpu' or (device == 'auto' and not gpu_device_present()):
        return '/CPU:0'
    try:
        tf = import_tensorflow(num_threads)
    except ImportError as error:
        if device == 'auto':
            return '/CPU:0'
        raise ValueError(f"device 'gpu' needs TensorFlow, which cannot be imported ({error}); "
                         "use 'cpu' or 'auto'") from None
    has_gpu = bool(tf.config.list_physical_devices('GPU'))
    if device == 'gpu' and not has_gpu:
        raise ValueError("device 'gpu' requested, but TensorFlow sees no GPU "
                         "(tf.config.list_physical_devices('GPU') is empty); use 'cpu' or 'auto'")
    return '/GPU:0' if device == 'gpu' or (device == 'auto' and has_gpu) else '/CPU:0'


def default_backend(device_string: str) -> str:
    """Return the fastest backend that keeps parity: TFLite+XNNPACK on CPU, tf.function on GPU."""
    return 'function' if 'GPU' in device_string else 'tflite'


def resolve_backend(backend: str | None, device: str,
                    num_threads: int = 0) -> tuple[str, str]:
    """
    Return (backend, device) as a PoseNetwork takes them.

    The device resolved, and the backend given or else that device's default.
    """
    device = resolve_device(device, num_threads)
    return backend or default_backend(device), device


def check_image(image_rgb) -> np.ndarray:
    """Return the image as a uint8 (H, W, 3) array, or ValueError saying what is wrong."""
    if not isinstance(image_rgb, np.ndarray):
        raise ValueError(
            f'image must be a numpy uint8 array (H, W, 3), got {type(image_rgb).__name__}')
    if image_rgb.dtype != np.uint8:
        raise ValueError(f'image must be uint8 RGB (0-255), got dtype {image_rgb.dtype}')
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
        raise ValueError(f'image must have shape (height, width, 3) (RGB), got {image_rgb.shape}')
    if image_rgb.shape[0] < 1 or image_rgb.shape[1] < 1:
        raise ValueError(f'image is empty: shape {image_rgb.shape}')
    return image_rgb


def split_outputs(fused: np.ndarray) -> NetworkOutputs:
    """[1, h, w, 115] fused head output -> NetworkOutputs of contiguous [h, w, c] arrays."""
    parts = [np.ascontiguousarray(fused[0, :, :, a:b])
             for a, b in zip(HEAD_SPLITS, HEAD_SPLITS[1:])]
    return NetworkOutputs(*parts)


class PoseNetwork:
    """
    PoseNet's network for one set of weights, on one backend and device.

    `run(image, input_height, input_width, output_stride)` returns the four head outputs on the
    model-input grid, the padding used, and how long preprocessing and inference took (ms;
    preprocessing is 0 where it is fused into the inference graph). `run` and `prepare` may be
    called from different threads. `num_threads` bounds the threads inference uses (XNNPACK's,
    TensorFlow's intra- and inter-op pools); 0 means every core.
    """

    def __init__(self, weights: ModelWeights, *, backend: str | None = None, device: str = 'auto',
                 num_threads: int = 0, precision: str = 'float32', calibration_images=None,
                 quantize_options=None, int8_models=()):
        if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 0:
            raise ValueError(f'num_threads must be 0 (all cores) or a positive whole number, '
                             f'got {num_threads!r}')
        backend, self.device = resolve_backend(backend, device, num_threads)
        self.precision = check_precision(precision)
        inference_class = backend_class(backend)  # ValueError naming the choices
        if precision == 'int8' and backend != 'tflite':
            raise ValueError(f"precision 'int8' runs on backend 'tflite' only, not {backend!r}")
        self.backend = backend
        self.multiplier = weights.multiplier
        self.num_threads = num_threads
        if precision == 'int8':
            # Imported only for int8 (TensorFlow only where a model must be calibrated).
            from .int8_backend import Int8TfliteBackend, QuantizeOptions
            self.inference: InferenceBackend = Int8TfliteBackend(
                weights, self.multiplier, self.device, num_threads, calibration_images or [],
                quantize_options or QuantizeOptions(), int8_models)
        else:
            self.inference = inference_class(weights, self.multiplier, self.device, num_threads)

    def run(self, image_rgb: np.ndarray, input_height: int, input_width: int,
            output_stride: int) -> tuple[NetworkOutputs, Padding, dict[str, float]]:
        fused, padding, timings = self._run(image_rgb, input_height, input_width, output_stride,
                                            with_mirror=False)
        return split_outputs(fused), padding, timings

    def run_with_mirror(self, image_rgb: np.ndarray, input_height: int, input_width: int,
                        output_stride: int
                        ) -> tuple[NetworkOutputs, NetworkOutputs, Padding, dict[str, float]]:
        """
        `run`, plus the outputs for the network input mirrored left-right (for a flip test).

        The mirror is taken after preprocessing, so both passes see the same pixels; the second
        outputs are on the mirrored grid (see `flip_test.unmirror_outputs`). TFLite runs the two
        passes one after the other (a batch of two is no faster with XNNPACK); the TensorFlow
        backends run them as one batch.
        """
        fused, padding, timings = self._run(image_rgb, input_height, input_width, output_stride,
                                            with_mirror=True)
        return split_outputs(fused[0:1]), split_outputs(fused[1:2]), padding, timings

    def prepare(self, input_height: int, input_width: int, output_stride: int) -> None:
        """
        Build (trace, compile or convert) what `run` needs for this size and stride.

        Thread-safe: with TFLite, a new size is converted in the calling thread while `run`
        keeps serving the sizes already built.
        """
        self._check_size(input_height, input_width, output_stride)
        self.inference.prepare(input_height, input_width, output_stride)

    def cached_model_path(self, input_height: int, input_width: int, output_stride: int):
        """
        Return the disk cache file of the TFLite model of this size.

        None for other backends or when it is not there.
        """
        cache_key = getattr(self.inference, 'cache_key', None)
        if cache_key is None:
            return None
        from .tflite_cache import find_entry
        return find_entry(cache_key(input_height, input_width, output_stride))

    def _run(self, image_rgb, input_height, input_width, output_stride, with_mirror):
        image_rgb = check_image(image_rgb)
        self._check_size(input_height, input_width, output_stride)
        padding = compute_padding(image_rgb.shape[0], image_rgb.shape[1], input_height,
                                  input_width)
        fused, timings = self.inference.run(image_rgb, padding, input_height, input_width,
                                            output_stride, with_mirror)
        return fused, padding, timings

    def _check_size(self, input_height: int, input_width: int, output_stride: int) -> None:
        self.inference.layers(output_stride)  # ValueError if the backbone cannot reach it
        for name, value in (('input_height', input_height), ('input_width', input_width)):
            if value < 1 or (value - 1) % output_stride:
                raise ValueError(f'{name} {value} is not k * {output_stride} + 1 for output '
                                 f'stride {output_stride} (snap it with EstimateConfig.snapped())')
