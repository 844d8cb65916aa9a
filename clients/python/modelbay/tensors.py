"""numpy arrays <-> modelbay.v1.Tensor, through raw little-endian bytes (no per-element copies)."""

import numpy as np

from modelbay.v1 import tensor_pb2

_TO_WIRE = {
    np.dtype("float32"): tensor_pb2.DATA_TYPE_FLOAT32,
    np.dtype("int32"): tensor_pb2.DATA_TYPE_INT32,
    np.dtype("bool"): tensor_pb2.DATA_TYPE_BOOL,
    np.dtype("float64"): tensor_pb2.DATA_TYPE_FLOAT64,
    np.dtype("int64"): tensor_pb2.DATA_TYPE_INT64,
}
_FROM_WIRE = {v: k for k, v in _TO_WIRE.items()}


def to_tensor(array, name: str = "") -> tensor_pb2.Tensor:
    """A numpy array (or anything np.asarray accepts) as a Tensor with raw little-endian contents."""
    a = np.asarray(array)
    dtype = np.dtype(a.dtype.name)  # native byte order, for the table lookup
    if dtype == np.float64:
        # The server narrows FLOAT64 to float32 on its RPC thread (models compute in float32), with
        # the same rounding as numpy's; narrowing here sends half the bytes and spares it the work.
        # numpy's default float arrays (np.random.random, the classic recipe's data) are float64.
        with np.errstate(over="ignore"):
            a, dtype = a.astype(np.float32), np.dtype("float32")
    elif dtype not in _TO_WIRE:
        a, dtype = a.astype(np.float32), np.dtype("float32")
    raw = np.ascontiguousarray(a, dtype=dtype.newbyteorder("<")).tobytes()
    return tensor_pb2.Tensor(name=name, dtype=_TO_WIRE[dtype], shape=a.shape, raw_contents=raw)


def from_tensor(t: tensor_pb2.Tensor) -> np.ndarray:
    """A Tensor (raw contents or typed values) as a numpy array of its shape."""
    dtype = _FROM_WIRE.get(t.dtype)
    if dtype is None:
        raise ValueError(f"tensor {t.name!r} has no known dtype ({t.dtype})")
    shape = tuple(t.shape)
    if t.raw_contents:
        return np.frombuffer(t.raw_contents, dtype=dtype.newbyteorder("<")).astype(dtype, copy=False).reshape(shape)
    values = {
        tensor_pb2.DATA_TYPE_FLOAT32: t.float_values,
        tensor_pb2.DATA_TYPE_INT32: t.int32_values,
        tensor_pb2.DATA_TYPE_BOOL: t.bool_values,
        tensor_pb2.DATA_TYPE_FLOAT64: t.float64_values,
        tensor_pb2.DATA_TYPE_INT64: t.int64_values,
    }[t.dtype]
    return np.asarray(values, dtype=dtype).reshape(shape)
