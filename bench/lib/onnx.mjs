// A minimal protobuf encoder for ONNX ModelProto, and the graphs the onnxruntime-node contender runs.
// Field numbers and type codes are those of onnx/onnx.proto in the ONNX repository. Only the fields these graphs
// use are written.

const WIRE_VARINT = 0;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

// TensorProto.DataType values.
export const FLOAT = 1;
export const INT64 = 7;

// AttributeProto.AttributeType values.
const ATTRIBUTE_FLOAT = 1;
const ATTRIBUTE_INT = 2;
const ATTRIBUTE_INTS = 7;

const IR_VERSION = 8;
const OPSET_VERSION = 17;

const textEncoder = new TextEncoder();

/** Appends protobuf fields to a growing list of byte chunks. */
class ProtoWriter {
  constructor() {
    this.chunks = [];
    this.length = 0;
  }

  push(bytes) {
    this.chunks.push(bytes);
    this.length += bytes.length;
  }

  // Encodes an unsigned or signed 64-bit integer as a base-128 varint. Negative values take ten bytes, as
  // int64 fields in protobuf do (two's complement, no zigzag).
  varint(value) {
    let remaining = BigInt.asUintN(64, BigInt(value));
    const bytes = [];
    do {
      let byte = Number(remaining & 0x7fn);
      remaining >>= 7n;
      if (remaining !== 0n) byte |= 0x80;
      bytes.push(byte);
    } while (remaining !== 0n);
    this.push(Uint8Array.from(bytes));
  }

  tag(field, wireType) {
    this.varint((field << 3) | wireType);
  }

  int64(field, value) {
    this.tag(field, WIRE_VARINT);
    this.varint(value);
  }

  float(field, value) {
    this.tag(field, WIRE_FIXED32);
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setFloat32(0, value, true);
    this.push(bytes);
  }

  bytes(field, bytes) {
    this.tag(field, WIRE_LENGTH_DELIMITED);
    this.varint(bytes.length);
    this.push(bytes);
  }

  string(field, text) {
    this.bytes(field, textEncoder.encode(text));
  }

  // Writes a nested message; `writeFields` receives a fresh writer for the message's own fields.
  message(field, writeFields) {
    const nested = new ProtoWriter();
    writeFields(nested);
    this.bytes(field, nested.finish());
  }

  finish() {
    const result = new Uint8Array(this.length);
    let offset = 0;
    for (const chunk of this.chunks) {
      result.set(chunk, offset);
      offset += chunk.length;
    }
    return result;
  }
}

// AttributeProto: name = 1, f = 2, i = 3, ints = 8, type = 20.
function writeAttribute(writer, name, value) {
  writer.message(5, (attribute) => {
    attribute.string(1, name);
    if (Array.isArray(value)) {
      for (const item of value) attribute.int64(8, item);
      attribute.int64(20, ATTRIBUTE_INTS);
    } else if (Number.isInteger(value)) {
      attribute.int64(3, value);
      attribute.int64(20, ATTRIBUTE_INT);
    } else {
      attribute.float(2, value);
      attribute.int64(20, ATTRIBUTE_FLOAT);
    }
  });
}

// NodeProto: input = 1, output = 2, name = 3, op_type = 4, attribute = 5. An attribute value that is a JavaScript
// integer is written as INT, so a FLOAT attribute with an integral value cannot be expressed. No graph here needs one.
function writeNode(writer, node, index) {
  writer.message(1, (proto) => {
    for (const input of node.inputs) proto.string(1, input);
    for (const output of node.outputs) proto.string(2, output);
    proto.string(3, `${node.op}_${index}`);
    proto.string(4, node.op);
    for (const [name, value] of Object.entries(node.attributes ?? {})) writeAttribute(proto, name, value);
  });
}

// ValueInfoProto: name = 1, type = 2. TypeProto.tensor_type = 1; TypeProto.Tensor: elem_type = 1, shape = 2.
// TensorShapeProto.dim = 1; Dimension: dim_value = 1, dim_param = 2. A string dimension is symbolic.
function writeValueInfo(writer, field, value) {
  writer.message(field, (info) => {
    info.string(1, value.name);
    info.message(2, (type) => {
      type.message(1, (tensorType) => {
        tensorType.int64(1, value.type ?? FLOAT);
        tensorType.message(2, (shape) => {
          for (const dim of value.shape) {
            shape.message(1, (dimension) => {
              if (typeof dim === 'string') dimension.string(2, dim);
              else dimension.int64(1, dim);
            });
          }
        });
      });
    });
  });
}

// TensorProto: dims = 1, data_type = 2, float_data = 4 (packed), int64_data = 7 (packed), name = 8.
function writeInitializer(writer, tensor) {
  writer.message(5, (proto) => {
    for (const dim of tensor.dims) proto.int64(1, dim);
    proto.int64(2, tensor.type);
    const packed = new ProtoWriter();
    if (tensor.type === INT64) {
      for (const value of tensor.values) packed.varint(value);
      proto.bytes(7, packed.finish());
    } else {
      const bytes = new Uint8Array(4 * tensor.values.length);
      const view = new DataView(bytes.buffer);
      tensor.values.forEach((value, i) => view.setFloat32(4 * i, value, true));
      proto.bytes(4, bytes);
    }
    proto.string(8, tensor.name);
  });
}

/**
 * Encodes a single-graph ONNX model (IR version 8, default-domain opset 17) as ModelProto bytes.
 * @param {{nodes: object[], inputs: object[], outputs: object[], initializers?: object[]}} graph
 */
export function encodeModel(graph) {
  const model = new ProtoWriter();
  // ModelProto: ir_version = 1, producer_name = 2, graph = 7, opset_import = 8.
  model.int64(1, IR_VERSION);
  model.string(2, 'simd-nn-bench');
  // GraphProto: node = 1, name = 2, initializer = 5, input = 11, output = 12.
  model.message(7, (proto) => {
    graph.nodes.forEach((node, index) => writeNode(proto, node, index));
    proto.string(2, 'bench');
    for (const tensor of graph.initializers ?? []) writeInitializer(proto, tensor);
    for (const input of graph.inputs) writeValueInfo(proto, 11, input);
    for (const output of graph.outputs) writeValueInfo(proto, 12, output);
  });
  // OperatorSetIdProto: domain = 1 (empty for the default domain, so omitted), version = 2.
  model.message(8, (opset) => opset.int64(2, OPSET_VERSION));
  return model.finish();
}

function unaryGraph(op) {
  return {
    nodes: [{ op, inputs: ['x'], outputs: ['y'] }],
    inputs: [{ name: 'x', shape: ['n'] }],
    outputs: [{ name: 'y', shape: ['n'] }],
  };
}

function softmaxGraph() {
  return {
    nodes: [{ op: 'Softmax', inputs: ['x'], outputs: ['y'], attributes: { axis: -1 } }],
    inputs: [{ name: 'x', shape: ['rows', 'classes'] }],
    outputs: [{ name: 'y', shape: ['rows', 'classes'] }],
  };
}

// SoftmaxCrossEntropyLoss takes class indices, but tf.nn.softmax_cross_entropy_with_logits takes a probability
// distribution per row, so the loss is spelled out: loss = -sum(labels * LogSoftmax(logits), axis = -1). The
// backprop output is Softmax(logits) - labels, computed as Exp of the LogSoftmax already there.
function softmaxCrossEntropyGraph(withBackprop) {
  const nodes = [
    { op: 'LogSoftmax', inputs: ['logits'], outputs: ['log_probs'], attributes: { axis: -1 } },
    { op: 'Mul', inputs: ['labels', 'log_probs'], outputs: ['weighted'] },
    { op: 'ReduceSum', inputs: ['weighted', 'last_axis'], outputs: ['neg_loss'], attributes: { keepdims: 0 } },
    { op: 'Neg', inputs: ['neg_loss'], outputs: ['loss'] },
  ];
  const outputs = [{ name: 'loss', shape: ['rows'] }];
  if (withBackprop) {
    nodes.push({ op: 'Exp', inputs: ['log_probs'], outputs: ['probs'] });
    nodes.push({ op: 'Sub', inputs: ['probs', 'labels'], outputs: ['backprop'] });
    outputs.push({ name: 'backprop', shape: ['rows', 'classes'] });
  }
  return {
    nodes,
    inputs: [
      { name: 'labels', shape: ['rows', 'classes'] },
      { name: 'logits', shape: ['rows', 'classes'] },
    ],
    outputs,
    initializers: [{ name: 'last_axis', type: INT64, dims: [1], values: [-1] }],
  };
}

// tf.nn.sigmoid_cross_entropy_with_logits in its stable form: max(x, 0) - x * z + log(1 + exp(-|x|)).
function sigmoidCrossEntropyGraph() {
  return {
    nodes: [
      { op: 'Relu', inputs: ['logits'], outputs: ['positive_part'] },
      { op: 'Mul', inputs: ['logits', 'labels'], outputs: ['product'] },
      { op: 'Sub', inputs: ['positive_part', 'product'], outputs: ['linear'] },
      { op: 'Abs', inputs: ['logits'], outputs: ['magnitude'] },
      { op: 'Neg', inputs: ['magnitude'], outputs: ['negative_magnitude'] },
      { op: 'Softplus', inputs: ['negative_magnitude'], outputs: ['log_term'] },
      { op: 'Add', inputs: ['linear', 'log_term'], outputs: ['loss'] },
    ],
    inputs: [
      { name: 'labels', shape: ['n'] },
      { name: 'logits', shape: ['n'] },
    ],
    outputs: [{ name: 'loss', shape: ['n'] }],
  };
}

// tf.nn.l2_loss: sum(x * x) / 2, reduced over every axis to a scalar.
function l2LossGraph() {
  return {
    nodes: [
      { op: 'ReduceSumSquare', inputs: ['x'], outputs: ['sum_squares'], attributes: { keepdims: 0 } },
      { op: 'Mul', inputs: ['sum_squares', 'half'], outputs: ['loss'] },
    ],
    inputs: [{ name: 'x', shape: ['n'] }],
    outputs: [{ name: 'loss', shape: [] }],
    initializers: [{ name: 'half', type: FLOAT, dims: [], values: [0.5] }],
  };
}

// tf.nn.relu6 as Clip, whose bounds are inputs from opset 11 on.
function relu6Graph() {
  return {
    nodes: [{ op: 'Clip', inputs: ['x', 'zero', 'six'], outputs: ['y'] }],
    inputs: [{ name: 'x', shape: ['n'] }],
    outputs: [{ name: 'y', shape: ['n'] }],
    initializers: [
      { name: 'zero', type: FLOAT, dims: [], values: [0] },
      { name: 'six', type: FLOAT, dims: [], values: [6] },
    ],
  };
}

// tf.math.log_sigmoid(x) = -softplus(-x); ONNX has no operator of its own for it.
function logSigmoidGraph() {
  return {
    nodes: [
      { op: 'Neg', inputs: ['x'], outputs: ['negated'] },
      { op: 'Softplus', inputs: ['negated'], outputs: ['softplus'] },
      { op: 'Neg', inputs: ['softplus'], outputs: ['y'] },
    ],
    inputs: [{ name: 'x', shape: ['n'] }],
    outputs: [{ name: 'y', shape: ['n'] }],
  };
}

// tf.nn.silu with beta 1, x * Sigmoid(x): opset 17 has no Silu operator.
function siluGraph() {
  return {
    nodes: [
      { op: 'Sigmoid', inputs: ['x'], outputs: ['gate'] },
      { op: 'Mul', inputs: ['x', 'gate'], outputs: ['y'] },
    ],
    inputs: [{ name: 'x', shape: ['n'] }],
    outputs: [{ name: 'y', shape: ['n'] }],
  };
}

/** Returns the ONNX graph description for a benchmark op kind (see ops.mjs). */
export function graphForOp(kind, withBackprop) {
  switch (kind) {
    case 'relu':
      return unaryGraph('Relu');
    case 'sigmoid':
      return unaryGraph('Sigmoid');
    case 'tanh':
      return unaryGraph('Tanh');
    case 'relu6':
      return relu6Graph();
    case 'leakyRelu':
      return {
        ...unaryGraph('LeakyRelu'),
        nodes: [{ op: 'LeakyRelu', inputs: ['x'], outputs: ['y'], attributes: { alpha: 0.2 } }],
      };
    case 'softplus':
      return unaryGraph('Softplus');
    case 'logSigmoid':
      return logSigmoidGraph();
    case 'softsign':
      return unaryGraph('Softsign');
    case 'silu':
      return siluGraph();
    case 'softmax':
      return softmaxGraph();
    case 'softmaxCrossEntropy':
      return softmaxCrossEntropyGraph(withBackprop);
    case 'sigmoidCrossEntropy':
      return sigmoidCrossEntropyGraph();
    case 'l2Loss':
      return l2LossGraph();
    default:
      throw new Error(`No ONNX graph is defined for op kind "${kind}".`);
  }
}
