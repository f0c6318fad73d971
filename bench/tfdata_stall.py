"""What tf.data's autotuning thread costs Keras: idle time each time ``fit`` drops an iterator.

    python bench/tfdata_stall.py [--runs 2] [--epochs 10]

Keras builds a new iterator for every pass over a finite dataset (each epoch of one, each
validation pass) and drops the old one; with autotuning on, dropping it waits for the autotuning
thread to wake (``actionrec.data.tfdata.without_autotune_thread``). Each setting, "autotune on"
(tf.data's default) and "thread off" (``without_autotune_thread``, as every pipeline of the
project), fits the same small CNN on the same finite in-memory datasets (3,000 random images of
64x64: 2,400 for training, 600 for validation; batch 64) in its own fresh process, the two
alternating, ``--runs`` times. A callback times every train and validation batch; what an epoch
spends outside them, and what ``fit`` spends after its last epoch, is the stall (the validation
pass's drop falls inside its epoch). Output per run: passes stalled over 0.5 s, stall seconds,
``fit`` seconds; then the ratio of the mean ``fit`` times (on / off). The batches are the same
in both settings, so the weights end the same.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# argv: setting ("on" | "off"), epochs. Prints "<stalled epochs> <stall s> <fit s> <digest of the weights>".
CHILD = """
import hashlib, sys, time
import keras, numpy as np, tensorflow as tf
from actionrec.data.tfdata import without_autotune_thread
setting, epochs = sys.argv[1], int(sys.argv[2])
tf.config.experimental.enable_op_determinism()  # so that the two settings can be checked for the same weights
rng = np.random.default_rng(0)
x, y = rng.integers(0, 256, (3000, 64, 64, 3)).astype("uint8"), rng.integers(0, 10, 3000)
def finite(images, labels, shuffle):
    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    ds = ds.shuffle(len(images), seed=1) if shuffle else ds
    ds = ds.batch(64).prefetch(tf.data.AUTOTUNE)
    return without_autotune_thread(ds) if setting == "off" else ds
keras.utils.set_random_seed(0)
inputs = keras.Input((64, 64, 3))
h = keras.layers.Rescaling(1 / 255)(inputs)
for filters in (16, 32, 32, 32):
    h = keras.layers.Conv2D(filters, 3, strides=2 if filters == 16 else 1, padding="same", activation="relu")(h)
h = keras.layers.GlobalMaxPooling2D()(h)
model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(h))
model.compile("sgd", "sparse_categorical_crossentropy")
class Clock(keras.callbacks.Callback):
    def __init__(self):
        super().__init__(); self.stalls = []
    def on_epoch_begin(self, epoch, logs=None):
        self.start, self.busy = time.perf_counter(), 0.0
    def on_train_batch_begin(self, batch, logs=None):
        self.t = time.perf_counter()
    def on_train_batch_end(self, batch, logs=None):
        self.busy += time.perf_counter() - self.t
    on_test_batch_begin, on_test_batch_end = on_train_batch_begin, on_train_batch_end
    def on_epoch_end(self, epoch, logs=None):
        self.stalls.append(time.perf_counter() - self.start - self.busy)
    def on_train_end(self, logs=None):
        self.end = time.perf_counter()
clock = Clock()
start = time.perf_counter()
model.fit(finite(x[:2400], y[:2400], True), validation_data=finite(x[2400:], y[2400:], False), epochs=epochs, verbose=0, callbacks=[clock])
fit = time.perf_counter() - start
stalls = clock.stalls + [time.perf_counter() - clock.end]
digest = hashlib.sha1(b"".join(np.ascontiguousarray(w).tobytes() for w in model.get_weights())).hexdigest()[:12]
print(sum(s > 0.5 for s in stalls), round(sum(stalls), 2), round(fit, 2), digest)
"""


def run(setting: str, epochs: int) -> tuple[int, float, float, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", CHILD, setting, str(epochs)], cwd=REPO, env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"the {setting} run failed:\n{out.stderr[-3000:]}")
    stalled, stall, fit, digest = out.stdout.split()[-4:]
    return int(stalled), float(stall), float(fit), digest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2, help="runs per setting, alternating (default 2)")
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.2f}; {args.epochs} epochs per run")
    results: dict[str, list] = {"on": [], "off": []}
    for i in range(args.runs):
        for setting in ("on", "off"):
            results[setting].append(run(setting, args.epochs))
            stalled, stall, fit, digest = results[setting][-1]
            print(
                f"run {i + 1}, autotune {setting:3s}: {stalled:2d} of {args.epochs + 1} passes stalled > 0.5 s, {stall:6.2f} s idle, fit {fit:6.2f} s, weights {digest}"
            )
    on, off = (statistics.mean(r[2] for r in results[s]) for s in ("on", "off"))
    same = len({r[3] for rs in results.values() for r in rs}) == 1
    print(
        f"fit time, autotune on / thread off: {on / off:.2f}x; stall seconds on {sum(r[1] for r in results['on']):.1f}, off {sum(r[1] for r in results['off']):.1f}; weights identical in every run: {same}"
    )


if __name__ == "__main__":
    main()
