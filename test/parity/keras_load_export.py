"""Python side of test/export.test.ts (tensorflow-cpu==2.18.0, keras==3.15.1).

Loads a `.keras` file that `modelbay export` wrote with keras.models.load_model, predicts
<dir>/probe.npy, reads the optimizer's step count, trains one more epoch on <dir>/x.npy, y.npy
(batch 32, no shuffle) and predicts again. Prints JSON.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402
import numpy as np  # noqa: E402


def main():
    model_file, data_dir = sys.argv[1], sys.argv[2]
    model = keras.models.load_model(model_file)
    probe = np.load(os.path.join(data_dir, "probe.npy"))
    before = model.predict(probe, verbose=0)
    result = {"predictions": before.ravel().tolist(), "iterations": int(model.optimizer.iterations.numpy())}
    x_file = os.path.join(data_dir, "x.npy")
    if os.path.exists(x_file):
        model.fit(np.load(x_file), np.load(os.path.join(data_dir, "y.npy")), epochs=1, batch_size=32, shuffle=False, verbose=0)
        result["after_epoch"] = model.predict(probe, verbose=0).ravel().tolist()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
