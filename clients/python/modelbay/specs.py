"""Model specs of the classic TensorFlow recipes, as ModelSpec messages."""

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
