"""Model specs as ModelSpec messages: the classic TensorFlow recipes, and any Keras model."""

from modelbay.v1 import model_pb2


def _dense(units: int, activation: int = model_pb2.ACTIVATION_UNSPECIFIED, name: str = "") -> model_pb2.LayerSpec:
    return model_pb2.LayerSpec(name=name, dense=model_pb2.DenseLayer(units=units, activation=activation))


def _compile(learning_rate: float) -> model_pb2.CompileSpec:
    return model_pb2.CompileSpec(
        optimizer=model_pb2.OptimizerSpec(kind=model_pb2.OPTIMIZER_KIND_ADAM, learning_rate=learning_rate),
        loss=model_pb2.LOSS_MEAN_SQUARED_ERROR,
        metrics=[model_pb2.METRIC_MEAN_ABSOLUTE_ERROR],
    )


def classic_dense_spec(seed: int = 42, learning_rate: float = 0.0) -> model_pb2.ModelSpec:
    """Dense(128, relu, input 10) -> Dense(1), adam/mse. learning_rate 0 takes Keras' default."""
    return model_pb2.ModelSpec(
        sequential=model_pb2.SequentialTopology(
            input_shape=[10], layers=[_dense(128, model_pb2.ACTIVATION_RELU), _dense(1)]
        ),
        compile=_compile(learning_rate),
        seed=seed,
    )


def custom_block_spec(seed: int = 7, learning_rate: float = 0.0) -> model_pb2.ModelSpec:
    """A custom layer (a reusable block wrapping Dense(64, relu)) placed twice, then Dense(1)."""
    return model_pb2.ModelSpec(
        blocks=[model_pb2.BlockDefinition(name="hidden", layers=[_dense(64, model_pb2.ACTIVATION_RELU)])],
        sequential=model_pb2.SequentialTopology(
            input_shape=[10],
            layers=[
                model_pb2.LayerSpec(name="block_a", block=model_pb2.BlockLayer(block="hidden")),
                model_pb2.LayerSpec(name="block_b", block=model_pb2.BlockLayer(block="hidden")),
                _dense(1),
            ],
        ),
        compile=_compile(learning_rate),
        seed=seed,
    )


_OPTIMIZERS = {
    "adam": model_pb2.OPTIMIZER_KIND_ADAM,
    "sgd": model_pb2.OPTIMIZER_KIND_SGD,
    "rmsprop": model_pb2.OPTIMIZER_KIND_RMSPROP,
}
_LOSSES = {
    "mse": model_pb2.LOSS_MEAN_SQUARED_ERROR,
    "mean_squared_error": model_pb2.LOSS_MEAN_SQUARED_ERROR,
    "mae": model_pb2.LOSS_MEAN_ABSOLUTE_ERROR,
    "mean_absolute_error": model_pb2.LOSS_MEAN_ABSOLUTE_ERROR,
    "binary_crossentropy": model_pb2.LOSS_BINARY_CROSSENTROPY,
    "categorical_crossentropy": model_pb2.LOSS_CATEGORICAL_CROSSENTROPY,
    "sparse_categorical_crossentropy": model_pb2.LOSS_SPARSE_CATEGORICAL_CROSSENTROPY,
}
_METRICS = {
    "mae": model_pb2.METRIC_MEAN_ABSOLUTE_ERROR,
    "mean_absolute_error": model_pb2.METRIC_MEAN_ABSOLUTE_ERROR,
    "mse": model_pb2.METRIC_MEAN_SQUARED_ERROR,
    "mean_squared_error": model_pb2.METRIC_MEAN_SQUARED_ERROR,
    "accuracy": model_pb2.METRIC_ACCURACY,
}


def _named(table: dict, kind: str, name: str) -> int:
    if name not in table:
        raise ValueError(f"unknown {kind} {name!r}; modelbay knows {', '.join(sorted(table))}")
    return table[name]


def keras_spec(
    model,
    loss: str = "mse",
    optimizer: str = "adam",
    learning_rate: float = 0.0,
    metrics=(),
) -> model_pb2.ModelSpec:
    """A Keras model, or the text of its to_json(), as a ModelSpec: any architecture TensorFlow.js
    builds (functional graphs, convolutions, batch normalization, ...), Keras 2 or 3. The server
    builds it with fresh weights; compile it here as model.compile would. learning_rate 0 takes
    Keras' default."""
    topology = model if isinstance(model, str) else model.to_json()
    return model_pb2.ModelSpec(
        keras_json=topology,
        compile=model_pb2.CompileSpec(
            optimizer=model_pb2.OptimizerSpec(
                kind=_named(_OPTIMIZERS, "optimizer", optimizer), learning_rate=learning_rate
            ),
            loss=_named(_LOSSES, "loss", loss),
            metrics=[_named(_METRICS, "metric", m) for m in metrics],
        ),
    )
