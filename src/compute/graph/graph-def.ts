// Writes TensorFlow GraphDef / SavedModel protos by hand: enough of the wire format to describe a
// graph of plain ops, so a whole training step can run as one TF_SessionRun instead of a hundred
// eager kernel calls. Field numbers follow tensorflow/core/framework/{graph,node_def,attr_value,
// tensor,tensor_shape}.proto and tensorflow/core/protobuf/{meta_graph,saved_model}.proto.

export const DT_FLOAT = 1;
export const DT_INT32 = 3;
export const DT_BOOL = 10;

class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];
  private length = 0;

  private push(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.length += bytes.length;
  }

  private varintBytes(value: number | bigint): Uint8Array {
    // Negative int64 values are ten-byte two's complement varints.
    let v = BigInt.asUintN(64, BigInt(value));
    const out: number[] = [];
    do {
      const low = Number(v & 0x7fn);
      v >>= 7n;
      out.push(v > 0n ? low | 0x80 : low);
    } while (v > 0n);
    return Uint8Array.from(out);
  }

  varint(field: number, value: number | bigint): this {
    this.push(this.varintBytes(field << 3));
    this.push(this.varintBytes(value));
    return this;
  }

  bytes(field: number, value: Uint8Array | string): this {
    const data = typeof value === "string" ? new TextEncoder().encode(value) : value;
    this.push(this.varintBytes((field << 3) | 2));
    this.push(this.varintBytes(data.length));
    this.push(data);
    return this;
  }

  float(field: number, value: number): this {
    const data = new Uint8Array(4);
    new DataView(data.buffer).setFloat32(0, value, true);
    this.push(this.varintBytes((field << 3) | 5));
    this.push(data);
    return this;
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const c of this.chunks) {
      out.set(c, offset);
      offset += c.length;
    }
    return out;
  }
}

/** An attribute value of a node, as AttrValue's oneof. */
export type Attr =
  | { type: number }
  | { shape: readonly number[] }
  | { i: number }
  | { b: boolean }
  | { f: number }
  | { s: string }
  | { tensor: { dtype: number; shape: readonly number[]; floats?: readonly number[]; ints?: readonly number[] } };

function shapeProto(shape: readonly number[]): Uint8Array {
  const w = new ProtoWriter();
  for (const size of shape) w.bytes(2, new ProtoWriter().varint(1, size).finish());
  return w.finish();
}

function attrProto(attr: Attr): Uint8Array {
  const w = new ProtoWriter();
  if ("type" in attr) w.varint(6, attr.type);
  else if ("shape" in attr) w.bytes(7, shapeProto(attr.shape));
  else if ("i" in attr) w.varint(3, attr.i);
  else if ("b" in attr) w.varint(5, attr.b ? 1 : 0);
  else if ("f" in attr) w.float(4, attr.f);
  else if ("s" in attr) w.bytes(2, attr.s);
  else {
    const t = new ProtoWriter().varint(1, attr.tensor.dtype).bytes(2, shapeProto(attr.tensor.shape));
    for (const f of attr.tensor.floats ?? []) t.float(5, f);
    for (const i of attr.tensor.ints ?? []) t.varint(7, i);
    w.bytes(8, t.finish());
  }
  return w.finish();
}

export interface NodeDef {
  name: string;
  op: string;
  /** "node", "node:1", or "^node" for a control dependency. */
  inputs: readonly string[];
  attrs: Readonly<Record<string, Attr>>;
}

/** Adds a node to a graph being built and returns its name (what other nodes name as input). */
export type AddNode = (name: string, op: string, inputs: string[], attrs?: Record<string, Attr>) => string;

/** The float32 dtype attribute most nodes carry. */
export const FLOAT: Attr = { type: DT_FLOAT };

/** A graph built in order: `node` appends a node, `placeholder` a float32 feed of `shape`. */
export function graphBuilder(): {
  nodes: NodeDef[];
  node: AddNode;
  placeholder: (name: string, shape: number[]) => string;
} {
  const nodes: NodeDef[] = [];
  const node: AddNode = (name, op, inputs, attrs = {}) => {
    nodes.push({ name, op, inputs, attrs });
    return name;
  };
  const placeholder = (name: string, shape: number[]) =>
    node(name, "Placeholder", [], { dtype: FLOAT, shape: { shape } });
  return { nodes, node, placeholder };
}

function nodeProto(node: NodeDef): Uint8Array {
  const w = new ProtoWriter().bytes(1, node.name).bytes(2, node.op);
  for (const input of node.inputs) w.bytes(3, input);
  for (const [key, value] of Object.entries(node.attrs)) {
    w.bytes(5, new ProtoWriter().bytes(1, key).bytes(2, attrProto(value)).finish());
  }
  return w.finish();
}

// The GraphDef version the graph is written for: old enough for any TensorFlow 2.x to read, and
// the loader fills in attributes we leave at their defaults.
const PRODUCER = 1000;

/** A SavedModel (saved_model.pb) holding one MetaGraph tagged `tag` with `nodes`, no variables. */
export function savedModelProto(nodes: readonly NodeDef[], tag: string): Uint8Array {
  const graph = new ProtoWriter();
  for (const node of nodes) graph.bytes(1, nodeProto(node));
  graph.bytes(4, new ProtoWriter().varint(1, PRODUCER).finish());
  const metaInfo = new ProtoWriter().bytes(4, tag).finish();
  const metaGraph = new ProtoWriter().bytes(1, metaInfo).bytes(2, graph.finish()).finish();
  return new ProtoWriter().varint(1, 1).bytes(2, metaGraph).finish();
}
