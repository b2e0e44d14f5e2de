"""A run killed with SIGKILL mid-epoch and resumed ends exactly like an uninterrupted run."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from engine_helpers import feature_benchmark, feature_config, write_config
from palt.engine import ConfigError, fit, load_config


def _mid_epoch_checkpoint(run_dir):
    """The newest checkpoint's progress if it is mid-epoch, else None."""
    try:
        tag = json.loads((run_dir / "checkpoints" / "last.json").read_text())["checkpoint"]
        state = json.loads((run_dir / "checkpoints" / tag / "state.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return None
    progress = state["progress"]
    return progress if progress["step"] > 0 and progress["epoch"] >= 1 else None


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(tmp_path, one_thread):
    bench, features = feature_benchmark(tmp_path, sizes=(256, 24, 31))
    common = {
        "data": {"batch_size": 4},
        "model": {"backbone": "mlp", "params": {"hidden": [16], "dropout": 0.2}},  # uses the RNG
        "optim": {"name": "adamw", "lr": 0.01, "ema": 0.9},
        "schedule": {"name": "cosine", "warmup_epochs": 0.5},
        "trainer": {"epochs": 4, "checkpoint_every": 3},
    }
    killed = feature_config(tmp_path, bench, features, output={"name": "killed"}, **common)
    path = write_config(tmp_path / "killed.yaml", killed)
    run_dir = tmp_path / "runs" / "killed"
    env = {"OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "palt.cli", "train", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**__import__("os").environ, **env},
    )
    try:
        deadline = time.monotonic() + 240
        progress = None
        while progress is None and proc.poll() is None and time.monotonic() < deadline:
            progress = _mid_epoch_checkpoint(run_dir)
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert progress is not None, "the run ended before a mid-epoch checkpoint was seen"
    assert proc.returncode == -signal.SIGKILL
    assert not (run_dir / "summary.json").exists()

    resumed = fit(load_config(path), resume=True)
    reference = fit(
        feature_config(tmp_path, bench, features, output={"name": "straight"}, **common)
    )
    assert resumed.summary["test"] == reference.summary["test"]
    assert resumed.summary["selection"] == reference.summary["selection"]
    for name in ("metrics.csv", "per_class.csv"):
        assert (resumed.run_dir / name).read_text() == (reference.run_dir / name).read_text()
    np.testing.assert_array_equal(
        np.load(resumed.run_dir / "predictions" / "test.logits.npy"),
        np.load(reference.run_dir / "predictions" / "test.logits.npy"),
    )


def test_resume_refuses_a_changed_config(tmp_path):
    bench, features = feature_benchmark(tmp_path)
    cfg = feature_config(tmp_path, bench, features, trainer={"epochs": 1})
    fit(cfg)
    changed = feature_config(tmp_path, bench, features, trainer={"epochs": 1}, optim={"lr": 0.1})
    with pytest.raises(ConfigError, match=r"--resume: the config differs .* at optim.lr"):
        fit(changed, resume=True)
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        fit(feature_config(tmp_path, bench, features, output={"name": "fresh"}), resume=True)
