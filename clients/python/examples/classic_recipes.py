"""The three classic TensorFlow recipes, run against a live modelbay server from Python.

    python clients/python/examples/classic_recipes.py --server 127.0.0.1:50051

1. Dense(128, relu, input 10) -> Dense(1) with adam/mse: train, checkpoint each epoch, restore the
   latest into a new session, predict (the restored model must predict what the trained one did),
   and stream a large batch back in order.
2. The same with a custom layer (a reusable block wrapping Dense(64, relu)).
3. Checkpoint every epoch, restore the latest with resume, continue training: the resumed run
   ends with the weights of an uninterrupted run of the same length.
Exits non-zero (with the reason) if anything does not hold.
"""

import argparse
import sys
import time

import numpy as np

import modelbay


def data(rows: int, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, 10)).astype(np.float32)
    y = (x @ np.linspace(-1, 1, 10, dtype=np.float32) + 0.1 * rng.standard_normal(rows)).astype(np.float32)
    return x, y.reshape(-1, 1)


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SystemExit(f"FAIL: {message}")


def close(a: np.ndarray, b: np.ndarray, atol: float, rtol: float) -> bool:
    return bool(np.all(np.abs(a - b) <= atol + rtol * np.abs(b)))


def train_save_restore_predict(client: modelbay.Client, name: str, spec, run: str) -> None:
    model_id = f"{name}-{run}"
    x, y = data(2000, seed=1)
    client.create_model(model_id, spec)
    events = client.fit(model_id, x, y, epochs=3, batch_size=32, seed=1, checkpoint_every_epochs=1)
    losses = [e.data.loss for e in events if e.kind == "epoch_end"]
    saved = [e.data.checkpoint_id for e in events if e.kind == "checkpoint_saved"]
    check(len(losses) == 3 and losses[-1] < losses[0], f"{name}: losses should fall over 3 epochs: {losses}")
    check(len(saved) == 3, f"{name}: one checkpoint per epoch, got {saved}")
    check([c.checkpoint_id for c in client.list_checkpoints(model_id)][0] == saved[-1], f"{name}: latest is the last saved")

    probe = data(64, seed=2)[0]
    expected = client.predict(model_id, probe)
    restored = client.restore(model_id, "latest", target_model_id=f"{model_id}-restored", goldens=(probe, expected))
    check(restored.checkpoint_id == saved[-1], f"{name}: restored {restored.checkpoint_id}, latest is {saved[-1]}")
    check(restored.verification.passed, f"{name}: goldens failed: {restored.verification}")
    got = client.predict(f"{model_id}-restored", probe)
    check(got.shape == (64, 1) and close(got, expected, 0.0, 0.0), f"{name}: restored predictions differ")

    rows = data(100_000, seed=3)[0]
    whole = client.predict(model_id, rows)
    offsets, chunks = [], []
    for offset, chunk in client.predict_stream(model_id, rows, chunk_rows=10_000):
        offsets.append(offset)
        chunks.append(chunk)
    check(offsets == list(range(0, 100_000, 10_000)), f"{name}: chunks out of order: {offsets}")
    check(close(np.concatenate(chunks), whole, 1e-6, 1e-5), f"{name}: streamed predictions differ from Predict")
    print(f"{name}: losses {[round(v, 4) for v in losses]}, checkpoints {saved}, restored {restored.checkpoint_id} "
          f"(verify passed), streamed {len(offsets)} chunks of 100000 rows")


def resume_training(client: modelbay.Client, run: str) -> None:
    x, y = data(1000, seed=4)
    probe = data(32, seed=5)[0]
    straight, interrupted = f"straight-{run}", f"interrupted-{run}"
    for model_id in (straight, interrupted):
        client.create_model(model_id, modelbay.classic_dense_spec(seed=11))
    client.fit(straight, x, y, epochs=4, batch_size=32, seed=9)
    client.fit(interrupted, x, y, epochs=2, batch_size=32, seed=9, checkpoint_every_epochs=1)
    # The "interrupted" session is gone (as after a crash); its latest checkpoint brings it back.
    client.delete_model(interrupted)
    restored = client.restore(interrupted, "latest", resume=True)
    events = client.fit(interrupted, x, y, epochs=4, batch_size=32, seed=9)
    epochs = [e.data.epoch for e in events if e.kind == "epoch_end"]
    check(epochs == [3, 4], f"resume: expected epochs 3 and 4 after resuming, got {epochs}")
    a, b = client.predict(straight, probe), client.predict(interrupted, probe)
    check(close(a, b, 0.0, 0.0), f"resume: resumed run differs from the uninterrupted one by {np.abs(a - b).max()}")
    print(f"resume: restored {restored.checkpoint_id}, trained epochs {epochs}, predictions equal the uninterrupted run")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="127.0.0.1:50051")
    args = parser.parse_args()
    run = str(int(time.time() * 1000) % 1_000_000)
    with modelbay.Client(args.server, timeout=120) as client:
        info = client.server_info()
        print(f"server {args.server}: modelbay {info.version}, backend {info.backend} {info.tensorflow_version}")
        train_save_restore_predict(client, "classic", modelbay.classic_dense_spec(), run)
        train_save_restore_predict(client, "custom-layer", modelbay.custom_block_spec(), run)
        resume_training(client, run)
    print("all three recipes passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
