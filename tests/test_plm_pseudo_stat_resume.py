"""PLM and pseudo-stat through the engine: a run killed mid-epoch and resumed ends exactly like an
uninterrupted one (their masks, histograms, running sums and label space live in buffers)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from engine_helpers import feature_benchmark, feature_config, write_config
from palt.engine import fit, load_config

METHODS = {
    "plm": {"ideal_init": "balanced", "change_rate": 0.5},
    "pseudo-stat": {"patience": 1, "separation_threshold": 0.3, "min_active_fraction": 0.4},
}


def _mid_epoch(run_dir) -> bool:
    try:
        tag = json.loads((run_dir / "checkpoints" / "last.json").read_text())["checkpoint"]
        progress = json.loads((run_dir / "checkpoints" / tag / "state.json").read_text())[
            "progress"
        ]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return False
    return progress["step"] > 0 and progress["epoch"] >= 2


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(METHODS))
def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(tmp_path, name):
    torch.set_num_threads(1)
    bench, features = feature_benchmark(tmp_path, sizes=(256, 24, 31))
    common = {
        "data": {"batch_size": 4},
        "method": {"name": name, "params": METHODS[name]},
        "trainer": {"epochs": 4, "checkpoint_every": 3},
    }
    path = write_config(
        tmp_path / "killed.yaml",
        feature_config(tmp_path, bench, features, output={"name": "killed"}, **common),
    )
    run_dir = tmp_path / "runs" / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "palt.cli", "train", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline, seen = time.monotonic() + 240, False
        while not seen and proc.poll() is None and time.monotonic() < deadline:
            seen = _mid_epoch(run_dir)
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert seen, "the run ended before a mid-epoch checkpoint was seen"

    resumed = fit(load_config(path), resume=True)
    straight = fit(feature_config(tmp_path, bench, features, output={"name": "straight"}, **common))
    assert resumed.summary["test"] == straight.summary["test"]
    for file in ("metrics.csv", "per_class.csv"):
        assert (resumed.run_dir / file).read_text() == (straight.run_dir / file).read_text()
