"""
The int8 model takes the frame's bytes: a uint8 input in place of the converter's float one.

The converter gives our int8 model (its first layers in float, `QuantizeOptions.float_layers`)
a float32 input whatever `inference_input_type` asks, followed by ROUND and the normalization's
MUL by 1/127.5. Fed the int8 path's uint8 resize, that input costs a conversion to float32 in
NumPy (one thread, 4 bytes a value) and two passes over the frame in the model. Here the input
becomes uint8 and ROUND and MUL one DEQUANTIZE of scale 1/127.5 (XNNPACK runs it): whole grey
levels times the same float32 constant, so the outputs are the same to the last bit
(test_engine_int8_models), and the frame is copied in as bytes (0.50 weights at 641x641: the
network's stage 7.51 -> 6.72 ms, 1.71x -> 1.91x float32's, docs/int8.md). LiteRT's own
flatbuffer schema reads and writes the model; no TensorFlow.
"""
from __future__ import annotations

import numpy as np


def with_uint8_input(model: bytes) -> bytes:
    """
    Return the model with a uint8 input, if its input only feeds a ROUND; else it, unchanged.

    ROUND becomes DEQUANTIZE (scale 1, zero point 0: whole grey levels are already whole), and
    a MUL of its result by one float constant, with no activation, folds into that scale. Models
    taking uint8 already (made since), full-integer ones (a QUANTIZE first) and float32 ones
    (no ROUND) are returned as they are.
    """
    from ai_edge_litert import schema_py_generated as schema
    import flatbuffers

    builtin = schema.BuiltinOperator
    root = schema.Model.GetRootAs(model, 0)
    graph = root.Subgraphs(0)
    if graph.InputsLength() != 1 or graph.Tensors(graph.Inputs(0)).Type() \
            != schema.TensorType.FLOAT32:
        return model
    unpacked = schema.ModelT.InitFromObj(root)
    graph = unpacked.subgraphs[0]
    source = int(graph.inputs[0])

    def code(op) -> int:
        entry = unpacked.operatorCodes[op.opcodeIndex]
        return max(entry.builtinCode, entry.deprecatedBuiltinCode)

    def readers(tensor: int) -> list:
        return [op for op in graph.operators if tensor in list(op.inputs)]

    first = readers(source)  # a mixed model's is `quantize.network_function`'s ROUND
    if len(first) != 1 or code(first[0]) != builtin.ROUND:
        return model
    round_op = first[0]
    scale, output = 1.0, int(round_op.outputs[0])
    following = readers(output)
    if (len(following) == 1 and code(following[0]) == builtin.MUL
            and output not in list(graph.outputs)):
        mul = following[0]
        other = [int(index) for index in mul.inputs if int(index) != output]
        constant = _float_constant(unpacked, graph, other[0]) if len(other) == 1 else None
        if constant is not None and mul.builtinOptions is not None \
                and mul.builtinOptions.fusedActivationFunction \
                == schema.ActivationFunctionType.NONE:
            scale, output = constant, int(mul.outputs[0])
            graph.operators.remove(mul)

    dequantize = schema.OperatorCodeT()
    dequantize.builtinCode = dequantize.deprecatedBuiltinCode = builtin.DEQUANTIZE
    dequantize.version = 1
    unpacked.operatorCodes.append(dequantize)
    round_op.opcodeIndex = len(unpacked.operatorCodes) - 1
    round_op.builtinOptionsType = schema.BuiltinOptions.NONE
    round_op.builtinOptions = None
    round_op.outputs = np.array([output], dtype=np.int32)
    quantization = schema.QuantizationParametersT()
    quantization.scale = [scale]
    quantization.zeroPoint = [0]
    tensor = graph.tensors[source]
    tensor.type = schema.TensorType.UINT8
    tensor.quantization = quantization

    builder = flatbuffers.Builder(len(model) + 4096)
    builder.Finish(unpacked.Pack(builder), file_identifier=b'TFL3')
    return bytes(builder.Output())


def _float_constant(model, graph, index: int) -> float | None:
    """Return the value of a one-value float32 constant tensor, else None."""
    from ai_edge_litert import schema_py_generated as schema
    tensor = graph.tensors[index]
    if tensor.type != schema.TensorType.FLOAT32 or tensor.buffer >= len(model.buffers):
        return None
    data = model.buffers[tensor.buffer].data
    if data is None or len(data) != 4:
        return None
    return float(np.frombuffer(np.asarray(data, dtype=np.uint8).tobytes(), np.float32)[0])
