"""Models of several inputs and outputs as Python TensorFlow writes them, for test/multi-io-models.test.ts.

For each model (trained for an epoch): NAME.json (model.to_json()), NAME.keras (model.save),
NAME.h5 (Keras 3's HDF5 save), NAME.x.INPUT.npy for each input and NAME.y.OUTPUT.npy for each of
Keras' predictions, and in models.json the inputs and outputs by name, in the order Keras takes and
gives them. tf-keras (Keras 2) writes its own HDF5 of the first model (tfkeras_two_tower.*), and
Keras 3 exports it as a SavedModel (two_tower_savedmodel/, outputs output_0, output_1).
Usage: multi_io_models.py DIR, or multi_io_models.py predict FILE.keras NAME DIR (see predict_exported).
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
from tensorflow import keras  # noqa: E402


def two_tower(k):
    """Numeric features and token ids in; a score and a category out (Keras' multi-input example)."""
    L = k.layers
    features = k.Input((10,), name="features")
    ids = k.Input((6,), dtype="int32", name="ids")
    h = L.Dense(16, activation="relu")(features)
    e = L.GlobalAveragePooling1D()(L.Embedding(20, 4)(ids))
    joined = L.Concatenate()([h, e])
    score = L.Dense(1, name="score")(joined)
    category = L.Dense(3, activation="softmax", name="category")(joined)
    return k.Model([features, ids], [score, category])


def dict_io(k):
    """Inputs and outputs given as dicts: Keras orders both by key."""
    L = k.layers
    b = k.Input((4,), name="b")
    a = k.Input((4,), name="a")
    total = L.Dense(2, name="total")(L.Add()([a, b]))
    gap = L.Dense(1, name="gap")(L.Subtract()([a, b]))
    return k.Model({"b": b, "a": a}, {"total": total, "gap": gap})


def taps(k):
    """One input; a hidden layer's output served beside the final one, which a later layer also reads."""
    L = k.layers
    x = k.Input((5,), name="x")
    hidden = L.Dense(8, activation="tanh", name="hidden")(x)
    final = L.Dense(2, name="final")(hidden)
    return k.Model(x, [final, hidden])


MODELS = {"two_tower": two_tower, "dict_io": dict_io, "taps": taps}


def rows(model, rng, n):
    out = {}
    for t in model.inputs:
        name = t.name.split(":")[0]
        shape = (n, *t.shape[1:])
        out[name] = rng.integers(0, 20, shape).astype("int32") if "int" in str(t.dtype) else rng.standard_normal(shape).astype("float32")
    return out


def outputs_of(model, predicted):
    """Keras' predictions by output name, in the order Keras gives them."""
    names = list(model.output_names)
    if isinstance(predicted, dict):
        return [(n, predicted[n]) for n in names]
    return list(zip(names, predicted))


def fit_once(model, rng):
    x = rows(model, rng, 64)
    y = {n: rng.uniform(0, 1, (64, *model.get_layer(n).output.shape[1:])).astype("float32") for n in model.output_names}
    model.compile(optimizer="adam", loss={n: "mse" for n in model.output_names})
    model.fit(x, y, epochs=1, verbose=0)


def save_all(model, out, name, rng, h5_only=False):
    x = rows(model, rng, 7)
    inputs = [t.name.split(":")[0] for t in model.inputs]
    for n in inputs:
        np.save(os.path.join(out, f"{name}.x.{n}.npy"), x[n])
    predicted = model.predict(x, verbose=0)
    outputs = outputs_of(model, predicted)
    for n, y in outputs:
        np.save(os.path.join(out, f"{name}.y.{n}.npy"), y)
    model.save(os.path.join(out, f"{name}.h5"))
    if not h5_only:
        with open(os.path.join(out, f"{name}.json"), "w") as f:
            f.write(model.to_json())
        model.save(os.path.join(out, f"{name}.keras"))
    return {"inputs": inputs, "outputs": [n for n, _ in outputs]}


def resumed_epoch(model, out, name, rng):
    """One more epoch (unshuffled, batch 16) with the optimizer the model saved: NAME.resume.x.INPUT.npy
    and NAME.resume.y.OUTPUT.npy (the data), NAME.resumed.y.OUTPUT.npy (predictions of NAME.x after
    it) and NAME.resumed.json (the epoch's losses as Keras logs them)."""
    x = rows(model, rng, 48)
    y = {n: rng.uniform(0, 1, (48, *model.get_layer(n).output.shape[1:])).astype("float32") for n in model.output_names}
    for n, v in x.items():
        np.save(os.path.join(out, f"{name}.resume.x.{n}.npy"), v)
    for n, v in y.items():
        np.save(os.path.join(out, f"{name}.resume.y.{n}.npy"), v)
    history = model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0).history
    probe = {n: np.load(os.path.join(out, f"{name}.x.{n}.npy")) for n in x}
    for n, v in outputs_of(model, model.predict(probe, verbose=0)):
        np.save(os.path.join(out, f"{name}.resumed.y.{n}.npy"), v)
    with open(os.path.join(out, f"{name}.resumed.json"), "w") as f:
        json.dump({k: float(v[-1]) for k, v in history.items()}, f)


def main(out):
    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    manifest = {}
    for name, make in MODELS.items():
        model = make(keras)
        fit_once(model, rng)
        manifest[name] = save_all(model, out, name, rng)
        if name in ("dict_io", "taps"):  # no Embedding: see the README on Keras' sparse gradients
            resumed_epoch(model, out, name, rng)
        if name == "two_tower":
            model.export(os.path.join(out, "two_tower_savedmodel"), verbose=False)
    import tf_keras

    tf_keras.utils.set_random_seed(7)
    model = two_tower(tf_keras)
    fit_once(model, rng)
    manifest["tfkeras_two_tower"] = save_all(model, out, "tfkeras_two_tower", rng, h5_only=True)
    with open(os.path.join(out, "models.json"), "w") as f:
        json.dump(manifest, f)
    print(json.dumps(manifest))


def predict_exported(model_file, name, out):
    """Loads a .keras file modelbay exported and predicts Python's inputs of NAME; prints the outputs by name."""
    model = keras.models.load_model(model_file)
    names = [t.name.split(":")[0] for t in model.inputs]
    x = {n: np.load(os.path.join(out, f"{name}.x.{n}.npy")) for n in names}
    predicted = outputs_of(model, model.predict(x, verbose=0))
    print(json.dumps({"inputs": names, "outputs": {n: y.ravel().tolist() for n, y in predicted}}))


if __name__ == "__main__":
    if sys.argv[1] == "predict":
        predict_exported(*sys.argv[2:5])
    else:
        main(sys.argv[1])
