"""Where the training cell's memory goes: the peak memory of training the assignment's ResNet50.

    python bench/bench_training_memory.py [--steps 5] [--output FILE]

Each configuration runs in a fresh Python process, set up as the notebook's first cell sets
up its kernel (``resnet_utils.cpu.tune``: oneDNN on, malloc's mmap threshold fixed; the course
kernel's ``MALLOC_ARENA_MAX=2``): it builds the reference solution's ResNet50 (6 classes,
64x64x3 inputs), compiles it with the notebook's recipe (``training.compile_with_settings``: AdamW,
the warm-up/cosine schedule) and runs ``--steps`` training steps (``train_on_batch``) on
random images. It records the process's high-water RSS (``ru_maxrss``) after the model is
built and after the steps, and the time of a step once traced (median of the steps after
the first). Configurations: graph mode (what ``fit`` runs) at batch 8, 16 and 32; eager
execution at batch 8 (no traced graph); and, at batch 32, the two CPU settings that take
less memory: TensorFlow's Eigen kernels instead of oneDNN, and oneDNN with the system
allocator instead of its pooling one. Results go to ``bench/results/training_memory.json``
(CPU model and count, versions), written after every configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "training_memory.json"

#: (name, batch size, eager, extra environment)
CONFIGS = [
    ("graph, batch 32 (the notebook's default)", 32, False, {}),
    ("graph, batch 16", 16, False, {}),
    ("graph, batch 8", 8, False, {}),
    ("eager, batch 8", 8, True, {}),
    ("graph, batch 32, Eigen kernels (oneDNN off)", 32, False, {"TF_ENABLE_ONEDNN_OPTS": "0"}),
    ("graph, batch 32, oneDNN with the system allocator", 32, False, {"TF_ONEDNN_USE_SYSTEM_ALLOCATOR": "1"}),
]

#: Run in the child process: argv = batch size, eager (0/1), steps. Prints one JSON line.
CHILD = r"""
import json, resource, statistics, sys, time
sys.path.insert(0, "bench")
from resnet_utils.quiet import import_tensorflow
import_tensorflow()
import numpy as np, keras
from resnet_utils import training
from bench_training_curve import reference_resnet50

def high_water():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)   # MiB (Linux: KiB)

batch, eager, steps = int(sys.argv[1]), sys.argv[2] == "1", int(sys.argv[3])
imported = high_water()
keras.utils.set_random_seed(0)
model = reference_resnet50()(input_shape=(64, 64, 3), classes=6)
s = training.settings(batch_size=batch, run_eagerly=eager, verbose=0)
training.prepare(model, s)
training.compile_with_settings(model, s, 1000)
built = high_water()
rng = np.random.default_rng(0)
x = rng.random((batch, 64, 64, 3), dtype="float32")
y = np.eye(6, dtype="float32")[rng.integers(0, 6, batch)]
times = []
for _ in range(steps):
    t0 = time.perf_counter()
    model.train_on_batch(x, y)
    times.append(time.perf_counter() - t0)
print(json.dumps({"peak_rss_mib_imported": imported, "peak_rss_mib_built": built,
                  "peak_rss_mib_trained": high_water(), "first_step_s": round(times[0], 1),
                  "step_s": round(statistics.median(times[1:]), 2)}))
"""


def measure(batch: int, eager: bool, env_extra: dict, steps: int) -> dict:
    """One configuration in a fresh process; the child's JSON line, plus what the steps added."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", MALLOC_ARENA_MAX="2", **env_extra)
    for var in ("NBGRADER_EXECUTION", "RESNET_FAST", "MALLOC_MMAP_THRESHOLD_"):
        env.pop(var, None)
    out = subprocess.run([sys.executable, "-c", CHILD, str(batch), "1" if eager else "0", str(steps)],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"batch {batch}, eager {eager}, {env_extra}: {out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["training_adds_mib"] = result["peak_rss_mib_trained"] - result["peak_rss_mib_built"]
    return result


def quoted_configs(results: dict) -> list[str]:
    """How the README quotes each configuration: ``"graph, batch 8: +0.94 GiB, 0.45 s per step"``."""
    return [f"{c['name']}: +{c['training_adds_mib'] / 1024:.2f} GiB, {c['step_s']:.2f} s per step"
            for c in results["configs"]]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=5, help="training steps per configuration (>= 2)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.steps < 2:
        parser.error("--steps must be at least 2 (the first step includes tracing)")
    sys.path.insert(0, str(ROOT))
    from bench_notebook import cpu_model, record_point, versions

    results = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "machine": {"cpu_model": cpu_model(), "cpu_count": os.cpu_count()},
               "versions": versions(), "steps": args.steps, "model": "reference ResNet50, 64x64x3, 6 classes",
               "configs": []}
    for name, batch, eager, env in CONFIGS:
        record_point(results, "configs", {"name": name, "batch_size": batch, "eager": eager, "env": env,
                                          **measure(batch, eager, env, args.steps)}, args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
