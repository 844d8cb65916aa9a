"""Keras 3 models as Python TensorFlow writes them, for test/keras3-models.test.ts.

For each model (trained for an epoch, but for one saved before training): NAME.json
(model.to_json()), NAME.keras (model.save), NAME.weights.h5 (model.save_weights), NAME.x.npy
(inputs), NAME.y.npy (Keras' predictions) and NAME.weights.json with one .npy per variable, by its
path. And the classic recipe's weights per epoch in classic_weights/ (see classic_weights()).
Usage: keras3_models.py DIR
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow import keras  # noqa: E402

L = keras.layers


def residual():
    x = keras.Input(shape=(10,), name="features")
    h = L.Dense(16, activation="relu")(x)
    r = L.Dense(16)(h)
    out = L.Dense(1)(L.Dropout(0.2)(L.Add()([h, r])))
    return keras.Model(x, out)


def branches():
    """Branches joined, one of them squared (a layer taking one tensor twice)."""
    x = keras.Input(shape=(6,))
    a = L.Dense(8, activation="tanh")(x)
    b = L.Identity()(L.Dense(8, activation="sigmoid")(x))
    return keras.Model(x, L.Dense(3, activation="softmax")(L.Concatenate()([a, b, L.Multiply()([a, a])])))


def conv():
    return keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            L.Conv2D(4, 3, padding="same", activation="relu"),
            L.BatchNormalization(),
            L.MaxPooling2D(),
            L.Flatten(),
            L.Dense(1, activation="sigmoid"),
        ]
    )


def nested():
    inner = keras.Sequential([L.Dense(6, activation="relu"), L.BatchNormalization(), L.Dense(4)], name="inner")
    x = keras.Input(shape=(5,))
    return keras.Model(x, L.Dense(1)(inner(x)))


def text():
    """Token ids through an Embedding and an LSTM."""
    return keras.Sequential([keras.Input((5,), dtype="int32"), L.Embedding(20, 8), L.LSTM(6), L.Dense(1)])


def recurrent():
    return keras.Sequential(
        [
            keras.Input((4, 3)),
            L.Bidirectional(L.LSTM(3, return_sequences=True)),
            L.SimpleRNN(3, return_sequences=True),
            L.TimeDistributed(L.Dense(2)),
            L.Flatten(),
            L.Dense(1),
        ]
    )


def gated():
    """GRUs: Keras' default (reset_after=True), inside Bidirectional too, and the older form."""
    return keras.Sequential(
        [
            keras.Input((5, 3)),
            L.GRU(4, return_sequences=True),
            L.Bidirectional(L.GRU(3, return_sequences=True)),
            L.GRU(2, reset_after=False, recurrent_activation="hard_sigmoid"),
            L.Dense(1),
        ]
    )


def tabular():
    """TensorFlow's regression tutorial: features scaled by an adapted Normalization layer."""
    scale = L.Normalization(axis=-1)
    scale.adapt(np.random.default_rng(9).standard_normal((200, 9)) * 3.0 + 1.0)
    return keras.Sequential(
        [keras.Input((9,)), scale, L.Dense(16, activation="relu"), L.Dense(16, activation="relu"), L.Dense(1)]
    )


def difference():
    x = keras.Input(shape=(6,))
    d = L.Subtract()([L.Dense(4)(x), L.Dense(4, activation="tanh")(x)])
    fixed = L.Normalization(mean=[0.5] * 4, variance=[4.0] * 4, invert=True)(L.UnitNormalization()(d))
    return keras.Model(x, L.Dense(1)(fixed))


def attention():
    """A Transformer encoder block over a series, as in Keras' time series examples: causal
    self-attention, residuals with layer and group normalization, then attention of the result
    to the raw series (called by keywords, projected to its own width), pooled."""
    x = keras.Input(shape=(6, 4))
    h = L.Dense(8)(x)
    a = L.MultiHeadAttention(num_heads=2, key_dim=4)(h, h, use_causal_mask=True)
    h = L.LayerNormalization(epsilon=1e-6)(L.Add()([h, a]))
    f = L.Conv1D(8, 1, activation="relu")(h)
    h = L.GroupNormalization(groups=2)(L.Add()([h, f]))
    c = L.MultiHeadAttention(num_heads=1, key_dim=3, value_dim=5, output_shape=(6,))(query=h, value=x)
    return keras.Model(x, L.Dense(1)(L.GlobalAveragePooling1D()(c)))


def masked_text():
    """Padded token ids (0 is padding, mask_zero): self-attention and an average over the real
    tokens only, and Keras' dot-product Attention; beside them what Keras 3 leaves unmasked: a sum with an unmasked embedding, and a
    convolution."""
    x = keras.Input(shape=(7,), dtype="int32")
    e = L.Embedding(20, 8, mask_zero=True)(x)
    h = L.LayerNormalization()(L.Add()([e, L.MultiHeadAttention(num_heads=2, key_dim=4)(e, e)]))
    unmasked = L.Add()([e, L.Embedding(20, 8)(x)])
    conv = L.Conv1D(4, 3, padding="same", activation="relu")(e)
    # An embedding of its own: Keras' MultiHeadAttention clears the masks of the tensors it takes
    # when it runs, so a later layer that takes `e` gets no mask in Keras.
    words = L.Embedding(20, 8, mask_zero=True)(x)
    luong = L.Attention()([words, words])
    pooled = [L.GlobalAveragePooling1D()(t) for t in (h, unmasked, conv, luong)] + [L.GlobalMaxPooling1D()(conv)]
    return keras.Model(x, L.Dense(1)(L.Concatenate()(pooled)))


def seq_attention():
    """Keras' Attention layers over a series: Luong's with scaled "concat" scores, causal
    dot-product self-attention, and Bahdanau's additive attention with a key of its own."""
    x = keras.Input(shape=(5, 4))
    q = L.Dense(6)(x)
    v = L.Dense(6, activation="tanh")(x)
    luong = L.Attention(use_scale=True, score_mode="concat")([q, v])
    causal = L.Attention(use_scale=True)([q, q], use_causal_mask=True)
    additive = L.AdditiveAttention()([q, v, L.Dense(6)(x)])
    return keras.Model(x, L.Dense(1)(L.Flatten()(L.Concatenate()([luong, causal, additive]))))


def masked_dropout():
    """Attention with dropout over padded ids, flattened: Keras then zeroes the scores of padding
    (its Softmax layer), where without dropout a padded step attends evenly to all; and Keras'
    Attention, whose output is zero at padding."""
    x = keras.Input(shape=(5,), dtype="int32")
    e = L.Embedding(20, 4, mask_zero=True)(x)
    words = L.Embedding(20, 4, mask_zero=True)(x)
    attended = L.MultiHeadAttention(num_heads=2, key_dim=2, dropout=0.1)(e, e)
    return keras.Model(x, L.Dense(1)(L.Concatenate()([L.Flatten()(attended), L.Flatten()(L.Attention()([words, words]))])))


def operations():
    """A Transformer block over a series written as Keras' examples write one, with operators and
    keras.ops between layers: a position table added, residuals as `a + h`, a sigmoid gate, a
    leaky relu by `where` (a comparison in the gradient's path), scaled dot-product scores by
    matmul applied by einsum, then the mean, the max and the last step (by index), and an affine
    output."""
    o = keras.ops
    x = keras.Input(shape=(6, 4))
    h = L.Dense(8)(x) + np.linspace(-0.5, 0.5, 48, dtype="float32").reshape(6, 8)
    h = L.LayerNormalization(epsilon=1e-6)(L.MultiHeadAttention(num_heads=2, key_dim=4)(h, h) + h)
    h = h + L.Dense(8)(o.gelu(L.Dense(16)(h))) * o.sigmoid(L.Dense(8)(h))
    h = o.where(h > 0, h, h * 0.1)
    scores = o.softmax(o.matmul(h, o.transpose(h, (0, 2, 1))) / np.sqrt(8.0).astype("float32"), axis=-1)
    h = o.einsum("bqk,bkd->bqd", scores, h)
    pooled = o.concatenate([o.mean(h, axis=1), o.max(h, axis=1), h[:, -1, :]], axis=-1)
    return keras.Model(x, L.Dense(1)(pooled) * 0.5 + 0.1)


def operations_text():
    """Padded token ids averaged by hand (a float mask from `ids > 0`, summed and divided), as
    models written before masks often do; and an Embedding(mask_zero) scaled by an operator, which
    hands its mask on to no one in Keras, so that the average after it counts the padding; the ids
    scaled by a float; an operation on a nested model's output; and an integer result into a Dense
    layer."""
    o = keras.ops
    ids = keras.Input(shape=(7,), dtype="int32")
    keep = o.cast(ids > 0, "float32")[..., None]
    e = L.Embedding(20, 8)(ids)
    mean = o.sum(e * keep, axis=1) / o.maximum(o.sum(keep, axis=1), 1.0)
    scaled = L.GlobalAveragePooling1D()(L.Embedding(20, 4, mask_zero=True)(ids) * 2.0)
    # The ids themselves, scaled: an integer tensor times a float is float32 in Keras.
    size = o.sum(ids * 0.05, axis=1, keepdims=True)
    # An operation on what a nested model gives (Keras 3 numbers calls to it without its input).
    head = keras.Sequential([keras.Input((8,)), L.Dense(4, activation="tanh")], name="head")
    # An integer result into a Dense layer (Keras casts it to float32): a bucket of the ids.
    bucket = L.Dense(2)(o.sum(ids, axis=1, keepdims=True) % 5)
    return keras.Model(ids, L.Dense(1)(o.concatenate([mean, scaled, size, head(mean) * 2.0, bucket], axis=-1)))


def built_sequential():
    m = keras.Sequential([L.Dense(8, activation="elu"), L.Dense(2)])
    m.build((None, 5))
    return m


def classic_weights(out, rng):
    """The classic recipe in Keras 3: a weights file per epoch from ModelCheckpoint, 11 epochs, then
    the predictions after the last and after one more epoch (unshuffled, batch 32)."""
    keras.utils.set_random_seed(11)
    x = rng.standard_normal((320, 10)).astype("float32")
    y = (x @ np.linspace(-1.0, 1.0, 10, dtype="float32")).reshape(-1, 1).astype("float32")
    np.save(os.path.join(out, "classic.train_x.npy"), x)
    np.save(os.path.join(out, "classic.train_y.npy"), y)
    np.save(os.path.join(out, "classic.x.npy"), x[:16])
    model = keras.Sequential([keras.Input((10,)), L.Dense(128, activation="relu"), L.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    each_epoch = keras.callbacks.ModelCheckpoint(
        os.path.join(out, "classic_weights", "epoch-{epoch}.weights.h5"), save_weights_only=True
    )
    model.fit(x, y, epochs=11, batch_size=32, verbose=0, callbacks=[each_epoch])
    np.save(os.path.join(out, "classic.y.npy"), model.predict(x[:16], verbose=0))
    model.fit(x, y, epochs=1, batch_size=32, shuffle=False, verbose=0)
    np.save(os.path.join(out, "classic.resumed.y.npy"), model.predict(x[:16], verbose=0))


# Keras 3's activations by name, but those that take arguments a name cannot carry (glu, threshold)
# and sparsemax, which modelbay does not have.
ACTIVATIONS = [
    "celu", "elu", "exponential", "gelu", "hard_shrink", "hard_sigmoid", "hard_silu", "hard_tanh",
    "leaky_relu", "linear", "log_sigmoid", "log_softmax", "mish", "relu", "relu6", "selu", "sigmoid",
    "silu", "soft_shrink", "softmax", "softplus", "softsign", "sparse_plus", "sparse_sigmoid",
    "squareplus", "tanh", "tanh_shrink",
]  # fmt: skip


def activations(out):
    """activations.json: for each activation, a model of one Activation layer (to_json()) and what
    it makes of activations.x.npy, a grid of [-4, 4]."""
    x = np.linspace(-4, 4, 33, dtype="float32").reshape(1, 33)
    np.save(os.path.join(out, "activations.x.npy"), x)
    made = {}
    for name in ACTIVATIONS:
        model = keras.Sequential([keras.Input((33,)), L.Activation(name)])
        np.save(os.path.join(out, f"activations.{name}.npy"), np.asarray(model(x)))
        made[name] = model.to_json()
    with open(os.path.join(out, "activations.json"), "w") as f:
        json.dump(made, f)


def operation_cases():
    """Keras 3 graph operations on a [batch, 3, 4] float tensor, by a name for each use."""
    o = keras.ops
    pos = lambda x: o.abs(x) + 0.5  # noqa: E731
    unit = lambda x: o.clip(x * 0.3, -0.9, 0.9)  # noqa: E731
    flag = lambda b: o.cast(b, "float32")  # noqa: E731
    return {
        "add_scalar": lambda x: x + 1.5,
        "int_scalar_first": lambda x: 2 + x,
        "subtract": lambda x: x - x * 0.5,
        "square_by_multiply": lambda x: x * x,
        "divide": lambda x: x / (o.abs(x) + 1),
        "floor_divide": lambda x: x // 0.7,
        "mod": lambda x: x % 0.7,
        "power": lambda x: o.power(pos(x), 1.5),
        "maximum": lambda x: o.maximum(x, 0.3),
        "minimum": lambda x: o.minimum(x, x * 0.5),
        "arctan2": lambda x: o.arctan2(x, x * 0.5 + 0.1),
        "equal": lambda x: flag(o.equal(x, 0.0)),
        "not_equal": lambda x: flag(x != 0.5),
        "greater": lambda x: flag(x > 0.5),
        "greater_equal": lambda x: flag(x >= 0.5),
        "less": lambda x: flag(x < -0.25),
        "less_equal": lambda x: flag(o.less_equal(x, x * 0.5)),
        "logical_and": lambda x: flag(o.logical_and(x > 0, x < 1)),
        "logical_or": lambda x: flag(o.logical_or(x > 1, x < -1)),
        "logical_xor": lambda x: flag(o.logical_xor(x > 0, x > 1)),
        "logical_not": lambda x: flag(o.logical_not(x > 0)),
        "negative": lambda x: -x,
        "absolute": lambda x: o.absolute(x),
        "sign": lambda x: o.sign(x),
        "square": lambda x: o.square(x),
        "sqrt": lambda x: o.sqrt(pos(x)),
        "rsqrt": lambda x: o.rsqrt(pos(x)),
        "reciprocal": lambda x: o.reciprocal(pos(x)),
        "exp": lambda x: o.exp(x),
        "exp2": lambda x: o.exp2(x),
        "expm1": lambda x: o.expm1(x),
        "log": lambda x: o.log(pos(x)),
        "log1p": lambda x: o.log1p(pos(x)),
        "log2": lambda x: o.log2(pos(x)),
        "log10": lambda x: o.log10(pos(x)),
        "sin": lambda x: o.sin(x),
        "cos": lambda x: o.cos(x),
        "tan": lambda x: o.tan(x * 0.3),
        "sinh": lambda x: o.sinh(x),
        "cosh": lambda x: o.cosh(x),
        "tanh": lambda x: o.tanh(x),
        "arcsin": lambda x: o.arcsin(unit(x)),
        "arccos": lambda x: o.arccos(unit(x)),
        "arctan": lambda x: o.arctan(x),
        "arcsinh": lambda x: o.arcsinh(x),
        "arccosh": lambda x: o.arccosh(pos(x) + 1),
        "arctanh": lambda x: o.arctanh(unit(x)),
        "erf": lambda x: o.erf(x),
        "floor": lambda x: o.floor(x * 1.5),
        "ceil": lambda x: o.ceil(x * 1.5),
        "trunc": lambda x: o.trunc(x * 1.5),
        "round_half_even": lambda x: o.round(x * 2),
        "round_decimals": lambda x: o.round(x * 0.37, decimals=1),
        "isnan": lambda x: flag(o.isnan(o.log(x))),
        "isinf": lambda x: flag(o.isinf(o.log(o.abs(x)))),
        "isfinite": lambda x: flag(o.isfinite(o.log(x))),
        "clip": lambda x: o.clip(x, -0.5, 0.5),
        "where": lambda x: o.where(x > 0, x, x * 0.1),
        "relu": lambda x: o.relu(x),
        "relu6": lambda x: o.relu6(x * 4),
        "sigmoid": lambda x: o.sigmoid(x),
        "softplus": lambda x: o.softplus(x),
        "softsign": lambda x: o.softsign(x),
        "silu": lambda x: o.silu(x),
        "log_sigmoid": lambda x: o.log_sigmoid(x),
        "hard_sigmoid": lambda x: o.hard_sigmoid(x * 2),
        "hard_silu": lambda x: o.hard_silu(x * 2),
        "hard_tanh": lambda x: o.hard_tanh(x),
        "tanh_shrink": lambda x: o.tanh_shrink(x),
        "elu": lambda x: o.elu(x, alpha=0.5),
        "selu": lambda x: o.selu(x),
        "celu": lambda x: o.celu(x, alpha=0.7),
        "leaky_relu": lambda x: o.leaky_relu(x, negative_slope=0.1),
        "gelu_tanh": lambda x: o.gelu(x),
        "gelu_erf": lambda x: keras.activations.gelu(x),
        "softmax_last": lambda x: o.softmax(x),
        "softmax_steps": lambda x: o.softmax(x, axis=1),
        "log_softmax_last": lambda x: o.log_softmax(x),
        "log_softmax_steps": lambda x: o.log_softmax(x, axis=1),
        "sum": lambda x: o.sum(x, axis=1),
        "sum_keepdims": lambda x: o.sum(x, axis=[1, 2], keepdims=True),
        "mean": lambda x: o.mean(x, axis=-1, keepdims=True),
        "max": lambda x: o.max(x, axis=1),
        "max_initial": lambda x: o.max(x, axis=1, initial=0.2),
        "min": lambda x: o.min(x, axis=2),
        "prod": lambda x: o.prod(x, axis=2),
        "var": lambda x: o.var(x, axis=1),
        "std": lambda x: o.std(x, axis=2),
        "logsumexp": lambda x: keras.ops.logsumexp(x, axis=2),
        "any": lambda x: flag(o.any(x > 2, axis=1)),
        "all": lambda x: flag(o.all(x > -1, axis=2)),
        "argmax": lambda x: flag(o.argmax(x, axis=-1)),
        "argmin": lambda x: flag(o.argmin(x, axis=1, keepdims=True)),
        "reshape": lambda x: o.reshape(x, (-1, 12)),
        "reshape_3d": lambda x: o.reshape(x, (-1, 2, 6)),
        "transpose": lambda x: o.transpose(x, (0, 2, 1)),
        "swapaxes": lambda x: o.swapaxes(x, 1, 2),
        "moveaxis": lambda x: o.moveaxis(o.expand_dims(x, -1), 1, -1),
        "expand_dims": lambda x: o.expand_dims(x, 1),
        "expand_dims_last": lambda x: o.expand_dims(x, -1),
        "squeeze": lambda x: o.squeeze(o.expand_dims(x, 2), axis=2),
        "squeeze_all": lambda x: o.squeeze(o.expand_dims(x, 2)),
        "concatenate": lambda x: o.concatenate([x, x * 2], axis=1),
        "stack": lambda x: o.stack([x, -x], axis=1),
        "tile": lambda x: o.tile(x, (1, 2, 1)),
        "repeat": lambda x: o.repeat(x, 2, axis=2),
        "flip": lambda x: o.flip(x, axis=1),
        "cumsum": lambda x: o.cumsum(x, axis=1),
        "pad": lambda x: o.pad(x, ((0, 0), (1, 2), (0, 1))),
        "pad_reflect": lambda x: o.pad(x, ((0, 0), (1, 1), (2, 1)), mode="reflect"),
        "index": lambda x: x[:, 0],
        "index_last": lambda x: x[:, -1, :],
        "reversed": lambda x: x[:, ::-1],
        "strided": lambda x: x[:, 1:, ::2],
        "new_axis": lambda x: x[..., None],
        "new_axis_index": lambda x: x[:, None, 1],
        "ellipsis_index": lambda x: x[..., 2],
        "tail": lambda x: x[:, -2:],
        "batch_matmul": lambda x: o.matmul(x, o.transpose(x, (0, 2, 1))),
        "matmul_constant": lambda x: o.matmul(x, np.linspace(-1, 1, 8, dtype="float32").reshape(4, 2)),
        "plus_tensor": lambda x: x + o.ones((3, 4)) * 0.25,
        "plus_numpy": lambda x: x + np.arange(12, dtype="float32").reshape(3, 4),
        "plus_int_numpy": lambda x: x + np.arange(12).reshape(3, 4),
        "stop_gradient": lambda x: o.stop_gradient(x) * 2,
        "cast_int": lambda x: o.cast(o.cast(x * 3, "int32"), "float32"),
        "int_mean": lambda x: o.mean(o.cast(x * 3, "int32"), axis=1),
        "int_divide": lambda x: o.cast(x * 3, "int32") / 2,
        "int_plus_float": lambda x: o.cast(x * 3, "int32") + 0.5,
        "int_times_int": lambda x: o.cast(x * 3, "int32") * 2 - 1,
        "zeros_like": lambda x: o.zeros_like(x) + 1,
        "einsum_steps": lambda x: o.einsum("bij,bkj->bik", x, x * 0.5),
        "einsum_weights": lambda x: o.einsum("bij,jk->bik", x, np.linspace(-1, 1, 8, dtype="float32").reshape(4, 2)),
        "einsum_ellipsis": lambda x: o.einsum("...j,jk->...k", x, np.linspace(1, 2, 12, dtype="float32").reshape(4, 3)),
        "einsum_sum": lambda x: o.einsum("bij->bj", x),
        "einsum_implicit": lambda x: o.einsum("aij,jk", x, np.linspace(-1, 1, 8, dtype="float32").reshape(4, 2)),
        "take": lambda x: o.take(x, [2, 0], axis=2),
        "take_negative": lambda x: o.take(x, [-1, 1], axis=1),
        "take_along_axis": lambda x: o.take_along_axis(x, o.expand_dims(o.argmax(x, axis=-1), -1), axis=-1),
        "one_hot": lambda x: o.one_hot(o.cast(o.abs(x) * 2, "int32") % 5, 5),
        "one_hot_axis": lambda x: o.one_hot(o.cast(o.abs(x) * 2, "int32") % 3, 3, axis=1),
    }


def operation_uses(out):
    """operation_uses.json: for each use of a graph operation, a model of it alone (to_json()) and what
    it makes of operation_uses.x.npy."""
    x = np.linspace(-2.75, 3.0, 24, dtype="float32").reshape(2, 3, 4)
    np.save(os.path.join(out, "operation_uses.x.npy"), x)
    made = {}
    for name, f in operation_cases().items():
        inp = keras.Input((3, 4))
        model = keras.Model(inp, keras.ops.cast(f(inp), "float32"))
        np.save(os.path.join(out, f"operation_uses.{name}.npy"), np.asarray(model(x)))
        made[name] = model.to_json()
    with open(os.path.join(out, "operation_uses.json"), "w") as f:
        json.dump(made, f)


# Models that go on training from what they saved (those without dropout, which draws at random).
RESUMED = [
    "branches", "conv", "nested", "text", "recurrent", "gated", "tabular", "difference", "attention", "masked_text",
    "seq_attention", "operations", "operations_text",
]  # fmt: skip


def training_rows(model, rng, n=48):
    shape = (n, *model.inputs[0].shape[1:])
    if model.inputs[0].dtype == "int32":  # token ids, none twice in a row (see resumed_epoch)
        x = np.stack([rng.permutation(20)[: shape[1]] for _ in range(n)]).astype("int32")
    else:
        x = rng.standard_normal(shape).astype("float32")
    return x, rng.uniform(-1, 1, (n, *model.outputs[0].shape[1:])).astype("float32")


def resumed_epoch(model, out, name, rng):
    """One more epoch with the optimizer the model saved (Adam, after one epoch: its moments and
    step), unshuffled, batch 16: NAME.resume_x.npy, NAME.resume_y.npy, and the predictions after
    it, NAME.resumed.y.npy.

    Token ids go one row a batch: with the TensorFlow backend Keras squares an embedding row's
    gradient per occurrence of its token before summing them (tf.IndexedSlices), so a token twice
    in a batch gets a different Adam v than the summed gradient's square that TensorFlow.js
    computes."""
    x, y = training_rows(model, rng)
    np.save(os.path.join(out, f"{name}.resume_x.npy"), x)
    np.save(os.path.join(out, f"{name}.resume_y.npy"), y)
    batch = 1 if model.inputs[0].dtype == "int32" else 16
    model.fit(x, y, epochs=1, batch_size=batch, shuffle=False, verbose=0)
    np.save(os.path.join(out, f"{name}.resumed.y.npy"), model.predict(np.load(os.path.join(out, f"{name}.x.npy")), verbose=0))


def sgd_epoch(model, out, name, rng):
    """One more epoch of plain SGD (unshuffled, batch 16) from the saved weights: NAME.sgd_x.npy,
    NAME.sgd_y.npy, and the predictions after it, NAME.sgd.y.npy. Gradients through every layer."""
    x, y = training_rows(model, rng)
    np.save(os.path.join(out, f"{name}.sgd_x.npy"), x)
    np.save(os.path.join(out, f"{name}.sgd_y.npy"), y)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    np.save(os.path.join(out, f"{name}.sgd.y.npy"), model.predict(np.load(os.path.join(out, f"{name}.x.npy")), verbose=0))


def keras2_gated(out, rng):
    """The GRUs again as tf-keras (Keras 2) writes them, where hard_sigmoid is 0.2x + 0.5:
    keras2_gated.json, .x.npy, .y.npy and .weights.json as for the Keras 3 models."""
    import tf_keras

    model = tf_keras.Sequential(
        [
            tf_keras.Input((5, 3)),
            tf_keras.layers.GRU(4, return_sequences=True),
            tf_keras.layers.GRU(2, recurrent_activation="hard_sigmoid"),
            tf_keras.layers.Dense(1),
        ]
    )
    for v in model.weights:
        v.assign(rng.uniform(-0.5, 0.5, v.shape).astype("float32"))
    x = rng.standard_normal((7, 5, 3)).astype("float32")
    np.save(os.path.join(out, "keras2_gated.x.npy"), x)
    np.save(os.path.join(out, "keras2_gated.y.npy"), model.predict(x, verbose=0))
    with open(os.path.join(out, "keras2_gated.json"), "w") as f:
        f.write(model.to_json())
    weights = []
    for i, v in enumerate(model.weights):
        np.save(os.path.join(out, f"keras2_gated.w{i}.npy"), v.numpy())
        # "gru/gru_cell/kernel:0" is Keras 2's name of what Keras 3 calls "gru/kernel".
        layer, *_, variable = v.name.split(":")[0].split("/")
        weights.append({"path": f"{layer}/{variable}", "file": f"keras2_gated.w{i}.npy"})
    with open(os.path.join(out, "keras2_gated.weights.json"), "w") as f:
        json.dump(weights, f)


def legacy_h5(out, rng):
    """Whole models saved as HDF5 (`model.save("m.h5")`) by tf-keras (Keras 2) and by Keras 3, after
    an epoch of Adam: the classic Dense(128) -> Dense(1), a functional model with an LSTM, a
    Bidirectional GRU, batch normalization and a nested Sequential, and one with causal attention. For each, NAME.h5, NAME.x.npy,
    NAME.y.npy, and one more epoch as in resumed_epoch. Names: h5_<library>_<model>. tf-keras'
    also as a TensorFlow checkpoint (NAME_ckpt/ckpt) with their to_json() (NAME.json)."""
    import tf_keras

    for library, k in (("tfkeras", tf_keras), ("keras3", keras)):
        kl = k.layers
        x = k.Input((4, 3))
        h = kl.LSTM(5, return_sequences=True)(x)
        h = kl.BatchNormalization()(kl.Bidirectional(kl.GRU(2))(h))
        inner = k.Sequential([kl.Dense(3, activation="relu"), kl.Dense(2)], name="inner")
        mixed = k.Model(x, kl.Dense(1)(inner(h)))
        classic = k.Sequential([k.Input((10,)), kl.Dense(128, activation="relu"), kl.Dense(1)])
        series = k.Input((6, 4))
        attended = kl.MultiHeadAttention(num_heads=2, key_dim=3)(series, series, use_causal_mask=True)
        pooled = kl.GlobalAveragePooling1D()(kl.LayerNormalization()(kl.Add()([series, attended])))
        attention = k.Model(series, kl.Dense(1)(pooled))
        for kind, model in (("mixed", mixed), ("classic", classic), ("attention", attention)):
            name = f"h5_{library}_{kind}"
            model.compile(optimizer="adam", loss="mse")
            for v in model.non_trainable_weights:
                v.assign(rng.uniform(0.5, 1.5, v.shape).astype("float32"))
            rows, targets = training_rows(model, rng, 64)
            model.fit(rows, targets, epochs=1, batch_size=32, verbose=0)
            probe, _ = training_rows(model, rng, 7)
            np.save(os.path.join(out, f"{name}.x.npy"), probe)
            np.save(os.path.join(out, f"{name}.y.npy"), model.predict(probe, verbose=0))
            model.save(os.path.join(out, f"{name}.h5"))
            if library == "tfkeras":  # and as a TensorFlow checkpoint, tf-keras' save_weights format
                model.save_weights(os.path.join(out, f"{name}_ckpt", "ckpt"))
                with open(os.path.join(out, f"{name}.json"), "w") as f:
                    f.write(model.to_json())
            resumed_epoch(model, out, name, rng)


MODELS = {
    "residual": residual,
    "branches": branches,
    "conv": conv,
    "built_sequential": built_sequential,
    "nested": nested,
    "text": text,
    "recurrent": recurrent,
    "gated": gated,
    "tabular": tabular,
    "difference": difference,
    "attention": attention,
    "masked_text": masked_text,
    "seq_attention": seq_attention,
    "masked_dropout": masked_dropout,
    "operations": operations,
    "operations_text": operations_text,
}


def main(out):
    keras.utils.set_random_seed(5)
    rng = np.random.default_rng(5)

    def rows_for(model, n):
        shape = (n, *model.inputs[0].shape[1:])
        if model.inputs[0].dtype == "int32":
            return rng.integers(0, 20, shape).astype("int32")
        return rng.standard_normal(shape).astype("float32")

    for name, make in MODELS.items():
        model = make()
        # Moving statistics away from their initial values, so that inference has to use them.
        for v in model.non_trainable_weights:
            if v.dtype == "float32":  # not Normalization's count
                v.assign(rng.uniform(0.5, 1.5, v.shape).astype("float32"))
        for layer in model.layers:  # Normalization computes with a copy of its statistics
            if isinstance(layer, L.Normalization) and layer.weights:
                layer.finalize_state()
        # And biases away from zero, so that each one's place matters (a GRU's two rows, say).
        for v in model.trainable_weights:
            if v.path.endswith("bias"):
                v.assign(rng.uniform(-0.5, 0.5, v.shape).astype("float32"))
            if v.path.endswith(("/scale", "concat_score_weight")):  # Attention's, made as ones
                v.assign(rng.uniform(0.5, 1.5, v.shape).astype("float32"))
        model.compile(optimizer="adam", loss="mse")
        if name != "built_sequential":  # that one is saved before any training: no optimizer slots
            rows = rows_for(model, 64)
            model.fit(rows, rng.uniform(0, 1, (64, *model.outputs[0].shape[1:])), epochs=1, verbose=0)
        x = rows_for(model, 7)
        np.save(os.path.join(out, f"{name}.x.npy"), x)
        np.save(os.path.join(out, f"{name}.y.npy"), model.predict(x, verbose=0))
        with open(os.path.join(out, f"{name}.json"), "w") as f:
            f.write(model.to_json())
        model.save(os.path.join(out, f"{name}.keras"))
        model.save_weights(os.path.join(out, f"{name}.weights.h5"))
        weights = []
        for i, v in enumerate(model.weights):
            file = f"{name}.w{i}.npy"
            np.save(os.path.join(out, file), v.numpy())
            weights.append({"path": v.path, "file": file})
        with open(os.path.join(out, f"{name}.weights.json"), "w") as f:
            json.dump(weights, f)
        if name in RESUMED:
            resumed_epoch(model, out, name, rng)
        if name == "gated":
            sgd_epoch(keras.models.load_model(os.path.join(out, f"{name}.keras")), out, name, rng)
    classic_weights(out, rng)
    activations(out)
    operation_uses(out)
    keras2_gated(out, rng)
    legacy_h5(out, rng)
    print(json.dumps({"models": list(MODELS), "keras": keras.__version__, "tensorflow": tf.__version__}))


if __name__ == "__main__":
    main(sys.argv[1])
