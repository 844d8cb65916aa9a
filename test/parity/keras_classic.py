"""Keras side of test/keras-parity.test.ts (tensorflow-cpu==2.18.0, installed by scripts/python-env.sh).

Trains the classic example, Dense(128, relu, input 10) -> Dense(1) with adam/mse, from the initial
weights and on the data the test wrote (<dir>/x.npy, y.npy, w0..w3.npy), in the same order
(shuffle=False), and prints the per-epoch losses as JSON. With a fourth argument "regularized", the
model is instead Dense(32, relu) with an L2 kernel penalty, an L1 bias penalty and a max-norm kernel
constraint -> Dense(1) with an L1 kernel penalty: the losses then include the penalties, and the
constraint is applied after every update, as Keras does.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def main():
    data_dir, epochs, batch_size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    tf.keras.utils.set_random_seed(0)
    layers = tf.keras.layers
    if len(sys.argv) > 4 and sys.argv[4] == "regularized":
        hidden = layers.Dense(
            32,
            activation="relu",
            kernel_regularizer=tf.keras.regularizers.L2(0.01),
            bias_regularizer=tf.keras.regularizers.L1(0.001),
            kernel_constraint=tf.keras.constraints.MaxNorm(0.5, axis=0),
        )
        out = layers.Dense(1, kernel_regularizer=tf.keras.regularizers.L1(0.01))
    else:
        hidden, out = layers.Dense(128, activation="relu"), layers.Dense(1)
    model = tf.keras.Sequential([tf.keras.Input((10,)), hidden, out])
    model.compile(optimizer=tf.keras.optimizers.Adam(), loss="mse")
    model.set_weights([np.load(os.path.join(data_dir, f"w{i}.npy")) for i in range(4)])
    x, y = np.load(os.path.join(data_dir, "x.npy")), np.load(os.path.join(data_dir, "y.npy"))
    history = model.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=False, verbose=0)
    print(json.dumps({"tensorflow": tf.__version__, "losses": [float(v) for v in history.history["loss"]]}))


if __name__ == "__main__":
    main()
