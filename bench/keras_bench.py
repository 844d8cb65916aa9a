"""Keras side of bench/native-vs-keras.ts: trains and predicts the same models on the same data.

Reads <dir>/<case>/{x.npy,y.npy,w0.npy..} written by the TypeScript side, starts from the same
initial weights, trains without shuffling (same data order), and prints one JSON object.
"""
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def build(case):
    if case["model"] == "seed":
        layers = [tf.keras.Input((10,)), tf.keras.layers.Dense(128, activation="relu"), tf.keras.layers.Dense(1)]
        loss = "mse"
    else:
        layers = [tf.keras.Input((784,)), tf.keras.layers.Dense(256, activation="relu"), tf.keras.layers.Dense(10, activation="softmax")]
        loss = "sparse_categorical_crossentropy"
    model = tf.keras.Sequential(layers)
    model.compile(optimizer=tf.keras.optimizers.Adam(), loss=loss)
    return model


class EpochTimer(tf.keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.times, self.losses = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)
        self.losses.append(float(logs["loss"]))


def run_case(root, case):
    d = os.path.join(root, case["name"])
    x, y = np.load(os.path.join(d, "x.npy")), np.load(os.path.join(d, "y.npy"))
    model = build(case)
    weights = [np.load(os.path.join(d, f"w{i}.npy")) for i in range(len(model.get_weights()))]
    model.set_weights(weights)
    timer = EpochTimer()
    model.fit(x, y, epochs=case["epochs"], batch_size=case["batchSize"], shuffle=False, verbose=0, callbacks=[timer])
    out = {"epochSeconds": timer.times, "epochLosses": timer.losses, "rows": int(x.shape[0])}
    if case.get("predictRows"):
        px = np.load(os.path.join(d, "predict_x.npy"))
        model.predict(px[:8192], batch_size=8192, verbose=0)  # trace outside the timing
        start = time.perf_counter()
        model.predict(px, batch_size=8192, verbose=0)
        out["predictSeconds"] = time.perf_counter() - start
    return out


def main():
    root, cases = sys.argv[1], json.loads(sys.argv[2])
    results = {c["name"]: run_case(root, c) for c in cases}
    print(json.dumps({"tensorflow": tf.__version__, "results": results}))


if __name__ == "__main__":
    main()
