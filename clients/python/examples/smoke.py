"""A short smoke test of a deployed modelbay server, in two phases around a restart.

    python clients/python/examples/smoke.py --server 127.0.0.1:50051 --phase train --state smoke.npz
    (restart the server on the same checkpoint volume)
    python clients/python/examples/smoke.py --server 127.0.0.1:50051 --phase restore --state smoke.npz

train: reports the server's backend, creates the classic Dense(128) -> Dense(1) model, trains two
epochs with a checkpoint each, predicts a probe batch and keeps probe and predictions in --state.
restore: restores the model's latest checkpoint with those predictions as goldens (exact match),
predicts again, and resumes training for one more epoch from where the checkpoint left off.
Prints one line per step; exits non-zero with the reason if anything does not hold.
"""

import argparse

import numpy as np

import modelbay

MODEL = "smoke"


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SystemExit(f"FAIL: {message}")


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1000, 10)).astype(np.float32)
    return x, (x @ np.linspace(-1, 1, 10, dtype=np.float32)).reshape(-1, 1).astype(np.float32)


def train(client: modelbay.Client, state: str) -> None:
    x, y = data()
    client.create_model(MODEL, modelbay.classic_dense_spec(seed=3))
    events = client.fit(MODEL, x, y, epochs=2, batch_size=32, seed=1, checkpoint_every_epochs=1)
    saved = [e.data.checkpoint_id for e in events if e.kind == "checkpoint_saved"]
    losses = [round(e.data.loss, 6) for e in events if e.kind == "epoch_end"]
    check(len(saved) == 2, f"one checkpoint per epoch, got {saved}")
    probe = np.random.default_rng(2).standard_normal((16, 10)).astype(np.float32)
    expected = client.predict(MODEL, probe)
    check(expected.shape == (16, 1) and np.all(np.isfinite(expected)), f"prediction shape {expected.shape}")
    np.savez(state, probe=probe, expected=expected, latest=np.array(saved[-1]))
    print(f"trained: losses {losses}, checkpoints {saved}")


def restore(client: modelbay.Client, state: str) -> None:
    saved = np.load(state)
    probe, expected, latest = saved["probe"], saved["expected"], str(saved["latest"])
    restored = client.restore(MODEL, "latest", goldens=(probe, expected), atol=0.0, rtol=0.0, resume=True)
    check(restored.checkpoint_id == latest, f"restored {restored.checkpoint_id}, expected {latest}")
    check(restored.verification.passed, f"goldens failed: {restored.verification}")
    got = client.predict(MODEL, probe)
    check(bool(np.array_equal(got, expected)), "predictions after restore differ")
    x, y = data()
    events = client.fit(MODEL, x, y, epochs=3, batch_size=32, seed=1)
    epochs = [e.data.epoch for e in events if e.kind == "epoch_end"]
    check(epochs == [3], f"resume: expected epoch 3 after the two checkpointed ones, got {epochs}")
    print(f"restored: {restored.checkpoint_id}, verify passed, predictions identical, resumed at epoch {epochs[0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="127.0.0.1:50051")
    parser.add_argument("--phase", choices=["train", "restore"], required=True)
    parser.add_argument("--state", required=True, help="file the train phase writes and the restore phase reads")
    args = parser.parse_args()
    with modelbay.Client(args.server) as client:
        info = client.server_info()
        print(f"server {info.version}: backend {info.backend} {info.tensorflow_version}")
        (train if args.phase == "train" else restore)(client, args.state)


if __name__ == "__main__":
    main()
