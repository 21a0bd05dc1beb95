"""
Our MobileNetV1 against Google's own converted graphs, and every backend against each other.

The independent check: the tfjs graph JSON (a TF GraphDef in protobuf-JSON) is imported into
TensorFlow with its Const nodes filled and the stride-8 `dilations` attribute fixed to
[1, r, r, 1]; on a real photo our network must give the same four outputs.
"""
from __future__ import annotations

import json
import re

from google.protobuf import json_format
import numpy as np
from PIL import Image
from posenet_ros.engine import load_weights
from posenet_ros.engine.mobilenet import output_strided_layers
from posenet_ros.engine.network import BACKENDS, PoseNetwork
from posenet_ros.engine.preprocess import compute_padding, pad_resize_normalize, padding_vector
from posenet_ros.engine.weights import canonical_name
import pytest
import tensorflow as tf

GRAPH_OUTPUTS = ('MobilenetV1/heatmap_2/BiasAdd:0', 'MobilenetV1/offset_2/BiasAdd:0',
                 'MobilenetV1/displacement_fwd_2/BiasAdd:0',
                 'MobilenetV1/displacement_bwd_2/BiasAdd:0')
FIELDS = ('heatmap_scores', 'offsets', 'displacements_fwd', 'displacements_bwd')


def graph_json(models_path, folder, stride):
    return json.loads((models_path / folder / f'model-stride{stride}.json').read_text())


def graph_layer_plan(document) -> list[tuple[int, int]]:
    """(stride, dilation) of every backbone conv in a published graph, in block order."""
    plan = {}
    for node in document['modelTopology']['node']:
        match = re.search(r'/Conv2d_(\d+)(_depthwise)?/', node['name'])
        if node['op'] not in ('Conv2D', 'DepthwiseConv2dNative') or match is None:
            continue  # heads and pointwise convs: always stride 1, no dilation
        if node['op'] == 'Conv2D' and match[1] != '0':
            continue
        strides = [int(v) for v in node['attr']['strides']['list']['i']]
        dilations = [int(v) for v in node['attr']['dilations']['list']['i']]
        rate = max(dilations)  # [1, r, r, 1], or the shipped [r, r, 1, 1]
        plan[int(match[1])] = (strides[1], rate)
    return [plan[block] for block in sorted(plan)]


def import_published_graph(document, weights):
    """
    Return Google's converted graph as a TF function.

    Const nodes are filled from our loaded weights (by their published names), dilations
    [a, b, 1, 1] rewritten to [1, a, b, 1].
    """
    graph_def = json_format.ParseDict(document['modelTopology'], tf.compat.v1.GraphDef())
    for node in graph_def.node:
        if node.op == 'Const':
            value = weights[canonical_name(node.name)]
            node.attr['value'].tensor.CopyFrom(tf.make_tensor_proto(value))
        if 'dilations' in node.attr:
            values = list(node.attr['dilations'].list.i)
            if values[2:] == [1, 1] and values[:2] != [1, 1]:
                node.attr['dilations'].list.i[:] = [1, values[0], values[1], 1]
    wrapped = tf.compat.v1.wrap_function(
        lambda: tf.compat.v1.import_graph_def(graph_def, name=''), [])
    return wrapped.prune(feeds='sub_2:0', fetches=list(GRAPH_OUTPUTS))


def photo(data_path, name='zidane.jpg'):
    return np.asarray(Image.open(data_path / 'smoke' / name).convert('RGB'))


@pytest.mark.parametrize('folder, multiplier', [
    ('mobilenet_quant2_075', 0.75), ('mobilenet_float_050', 0.5), ('mobilenet_quant1_100', 1.0)])
@pytest.mark.parametrize('stride', [8, 16])
def test_layer_plan_matches_the_published_graphs(models_path, folder, multiplier, stride):
    """Strides and atrous rates equal Google's converted graph of the same stride."""
    ours = [(layer.stride, layer.rate) for layer in output_strided_layers(multiplier, stride)]
    assert ours == graph_layer_plan(graph_json(models_path, folder, stride))


def test_output_stride_32_needs_multiplier_1():
    plan = output_strided_layers(1.01, 32)
    assert all(layer.rate == 1 for layer in plan)
    assert np.prod([layer.stride for layer in plan]) == 32
    for multiplier in (0.5, 0.75):
        with pytest.raises(ValueError, match='32 needs multiplier 1.00 or 1.01'):
            output_strided_layers(multiplier, 32)
    with pytest.raises(ValueError, match='output stride 12'):
        output_strided_layers(1.0, 12)


@pytest.mark.parametrize('folder, stride, input_hw', [
    ('mobilenet_quant2_075', 16, (257, 257)), ('mobilenet_quant2_075', 8, (353, 481)),
    ('mobilenet_float_050', 8, (257, 257)), ('mobilenet_quant1_100', 8, (257, 353))])
def test_network_equals_the_imported_tfjs_graph(models_path, data_path, folder, stride, input_hw):
    weights = load_weights(models_path / folder)
    image = photo(data_path)
    padding = compute_padding(image.shape[0], image.shape[1], *input_hw)
    inputs = pad_resize_normalize(tf.constant(image), tf.constant(padding_vector(padding)),
                                  tf.constant(input_hw, tf.int32))
    graph = import_published_graph(graph_json(models_path, folder, stride), weights)
    published = [t.numpy()[0] for t in graph(inputs)]
    published[0] = tf.sigmoid(published[0]).numpy()
    network = PoseNetwork(weights, backend='function', device='cpu')
    outputs, used_padding, _ = network.run(image, *input_hw, stride)
    assert used_padding == padding
    grid = ((input_hw[0] - 1) // stride + 1, (input_hw[1] - 1) // stride + 1)
    for field, theirs in zip(FIELDS, published):
        ours = getattr(outputs, field)
        assert ours.shape == theirs.shape == grid + (theirs.shape[-1],), field
        scale = max(1.0, float(np.abs(theirs).max()))
        assert np.abs(ours - theirs).max() <= 1e-4 * scale, field
    # The photo has people: the outputs are not trivially equal (e.g. all zero).
    assert np.ptp(outputs.heatmap_scores) > 0.05 and outputs.offsets.std() > 1.0


def test_shipped_stride8_dilation_bug_is_not_reproduced(models_path, data_path):
    """Our stride-8 depthwise convs dilate by (r, r), as trained; tfjs as shipped uses (r, 1)."""
    weights = load_weights(models_path / 'mobilenet_quant2_075')
    document = graph_json(models_path, 'mobilenet_quant2_075', 8)
    graph_def_nodes = document['modelTopology']['node']
    for node in graph_def_nodes:  # what tfjs-converter actually runs: dilations[1], dilations[2]
        if 'dilations' in node['attr']:
            values = node['attr']['dilations']['list']['i']
            if values[2:] == ['1', '1'] and values[:2] != ['1', '1']:
                node['attr']['dilations']['list']['i'] = ['1', values[1], '1', '1']
    image = photo(data_path)
    padding = compute_padding(image.shape[0], image.shape[1], 257, 257)
    inputs = pad_resize_normalize(tf.constant(image), tf.constant(padding_vector(padding)),
                                  tf.constant([257, 257], tf.int32))
    as_shipped = import_published_graph(document, weights)(inputs)[1].numpy()[0]
    ours = PoseNetwork(weights, backend='function', device='cpu').run(image, 257, 257, 8)[0]
    assert np.abs(ours.offsets - as_shipped).max() > 1.0


def test_all_backends_agree_across_strides_and_sizes(models_path, data_path):
    weights = load_weights(models_path / 'mobilenet_quant2_075')
    image = photo(data_path, 'bus.jpg')
    cases = [(257, 257, 16), (225, 321, 8)]
    results = {}
    for backend in BACKENDS:
        network = PoseNetwork(weights, backend=backend, device='cpu')
        assert network.backend == backend and network.device == '/CPU:0'
        runs = cases[:1] if backend == 'xla' else cases  # XLA on CPU is slow to compile
        results[backend] = {case: network.run(image, *case)[0] for case in runs}
    for backend, outputs in results.items():
        for case, got in outputs.items():
            expected = results['eager'][case]
            for field in FIELDS:
                diff = np.abs(getattr(got, field) - getattr(expected, field)).max()
                assert diff <= 1e-4 * max(1.0, np.abs(getattr(expected, field)).max()), (
                    backend, case, field)


def test_bad_arguments_are_explained(models_path):
    weights = load_weights(models_path / 'mobilenet_quant2_050')
    with pytest.raises(ValueError, match='backend must be one of'):
        PoseNetwork(weights, backend='onnx')
    with pytest.raises(ValueError, match='device must be one of'):
        PoseNetwork(weights, device='tpu')
    if not tf.config.list_physical_devices('GPU'):
        with pytest.raises(ValueError, match='TensorFlow sees no GPU'):
            PoseNetwork(weights, device='gpu')
        assert PoseNetwork(weights).device == '/CPU:0'
    network = PoseNetwork(weights, backend='function')
    image = np.zeros((100, 120, 3), np.uint8)
    with pytest.raises(ValueError, match='input_width 250 is not k \\* 16 \\+ 1'):
        network.run(image, 257, 250, 16)
    with pytest.raises(ValueError, match='32 needs multiplier'):
        network.run(image, 257, 257, 32)
    for bad, reason in ((image.astype(np.float32), 'uint8'),
                        (image[..., 0], r'\(height, width, 3\)'),
                        (np.zeros((10, 10, 4), np.uint8), r'\(height, width, 3\)'),
                        (np.zeros((0, 10, 3), np.uint8), 'empty'), (image.tolist(), 'numpy')):
        with pytest.raises(ValueError, match=reason):
            network.run(bad, 257, 257, 16)


def test_stride_32_runs_on_the_1_00_architecture(models_path, data_path):
    network = PoseNetwork(load_weights(models_path / 'mobilenet_quant1_100'), backend='function')
    outputs, _, _ = network.run(photo(data_path), 513, 257, 32)
    assert outputs.heatmap_scores.shape == (17, 9, 17)
    assert outputs.displacements_bwd.shape == (17, 9, 32)


def test_tflite_cache_is_bounded_in_bytes(models_path, data_path, monkeypatch):
    """Least recently used interpreters go beyond the budget; one over it alone is not kept."""
    from posenet_ros.engine import backends
    network = PoseNetwork(load_weights(models_path / 'mobilenet_quant2_050'), backend='tflite')
    image = photo(data_path, 'bus.jpg')
    small, other, large = (129, 129, 16), (161, 161, 16), (257, 257, 8)
    network.prepare(*small)
    one = network.inference.cached_bytes()
    assert one > 0
    monkeypatch.setattr(backends, 'TFLITE_CACHE_BYTES', int(2.5 * one))
    network.prepare(*other)
    network.run(image, *small)  # the smaller one is now the most recently used
    assert network.inference.cached_sizes() == [other, small]
    reference = network.run(image, *large)[0]  # far over the budget: used, not kept
    assert network.inference.cached_sizes() == [other, small]
    assert network.inference.cached_bytes() <= backends.TFLITE_CACHE_BYTES
    again = network.run(image, *large)[0]
    assert np.array_equal(again.heatmap_scores, reference.heatmap_scores)
    network.prepare(193, 193, 16)  # evicts the least recently used
    assert network.inference.cached_sizes()[-1] == (193, 193, 16)
    assert other not in network.inference.cached_sizes()
    assert network.inference.cached_bytes() <= backends.TFLITE_CACHE_BYTES


def test_prepare_in_another_thread_does_not_stall_run(models_path, data_path, monkeypatch):
    """
    While a new size converts in a background thread, frames of a built size are served.

    Two threads asking for the same new size build it once.
    """
    import threading
    network = PoseNetwork(load_weights(models_path / 'mobilenet_quant2_050'), backend='tflite')
    image = photo(data_path, 'bus.jpg')
    network.prepare(129, 129, 16)
    served = threading.Event()
    conversions = []
    waits = []  # whether each conversion saw the frame served (asserted here, not in its thread)
    build = network.inference._model  # from the disk cache, else converted

    def slow_build(*size):
        conversions.append(size)
        waits.append(served.wait(timeout=60))
        return build(*size)

    monkeypatch.setattr(network.inference, '_model', slow_build)
    builders = [threading.Thread(target=network.prepare, args=(161, 161, 16)) for _ in range(2)]
    for builder in builders:
        builder.start()
    outputs = network.run(image, 129, 129, 16)[0]  # while the conversion waits for it
    served.set()
    for builder in builders:
        builder.join(timeout=120)
    assert not any(builder.is_alive() for builder in builders), 'prepare never returned'
    assert waits == [True], 'run was blocked while a model converted'
    assert outputs.heatmap_scores.shape == (9, 9, 17)
    assert conversions == [(161, 161, 16)]
    assert (161, 161, 16) in network.inference.cached_sizes()


def test_a_gpu_without_tensorflow_runs_on_the_cpu_by_default(monkeypatch):
    """
    A machine with a GPU device but only LiteRT installed (README: the cached models run there).

    'auto' takes the CPU; an explicit 'gpu' says what is missing.
    """
    from posenet_ros.engine import network

    def no_tensorflow(num_threads=0):
        raise ModuleNotFoundError("No module named 'tensorflow'")

    monkeypatch.setattr(network, 'gpu_device_present', lambda: True)
    monkeypatch.setattr(network, 'import_tensorflow', no_tensorflow)
    assert network.resolve_device('auto') == '/CPU:0'
    with pytest.raises(ValueError, match="device 'gpu' needs TensorFlow"):
        network.resolve_device('gpu')


def test_the_tflite_input_is_fed_in_place_and_a_wrong_shape_is_refused(models_path, data_path):
    """
    uint8 and float32 frames give the same outputs; a wrong shape is refused, not broadcast.

    The backend writes frames into the interpreter's own input (a uint8 frame converted there
    when the input is float32): a frame of another shape would be silently broadcast by NumPy
    where `set_tensor` refused it, and a view of the interpreter's memory left alive would stop
    the next invoke.
    """
    from posenet_ros.engine.preprocess import pad_and_resize_rounded
    network = PoseNetwork(load_weights(models_path / 'mobilenet_quant2_050'), backend='tflite')
    network.prepare(129, 129, 16)
    entry = network.inference._interpreter(129, 129, 16)
    image = photo(data_path, 'bus.jpg')
    resized = pad_and_resize_rounded(image, compute_padding(*image.shape[:2], 129, 129), 129, 129)
    assert resized.dtype == np.uint8

    def fused(inputs):
        entry.feed(inputs)
        entry.interpreter.invoke()
        return entry.output()
    want = fused(resized.astype(np.float32))
    assert np.array_equal(fused(resized), want)
    for wrong in (resized[:, :1], resized[0]):
        with pytest.raises(ValueError, match=r'network input of shape .* the model takes '
                                             r'\(1, 129, 129, 3\)'):
            entry.feed(wrong)
    assert np.array_equal(fused(resized), want)  # no view left behind: invoke still runs
