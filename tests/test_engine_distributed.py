"""DDP with 2 CPU processes (gloo): same final metrics as 1 process, every sample counted once."""

import json

import numpy as np
import pytest
import torch

from engine_helpers import cli, feature_benchmark, feature_config, write_config
from palt.data.benchmark import Benchmark
from palt.engine import fit
from palt.engine.trainer import EpochSampler


def test_epoch_sampler_shards_cover_every_index_with_leading_padding():
    order = np.array([4, 0, 3, 1, 2])
    shards = []
    for rank in range(2):
        s = EpochSampler(lambda _: order, rank=rank, world=2)
        shards.append(list(s))
    assert shards == [[4, 3, 2], [0, 1, 4]]  # padded with the first index, rank-interleaved
    resumed = EpochSampler(lambda _: order, rank=1, world=2)
    resumed.set_epoch(0, skip=2)
    assert list(resumed) == [4] and len(resumed) == 1


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_two_gloo_processes_match_one_process(tmp_path, one_thread):
    # 64 training rows: 4 global batches of 16 per epoch either way; 24 / 31 eval rows are
    # not multiples of 2 × batch, and 31 is odd, so the distributed sampler pads.
    bench, features = feature_benchmark(tmp_path, sizes=(64, 24, 31))
    two = feature_config(
        tmp_path,
        bench,
        features,
        data={"batch_size": 8, "eval_batch_size": 5},
        trainer={"devices": 2, "strategy": "ddp"},
        output={"name": "two"},
    )
    out = cli("train", str(write_config(tmp_path / "two.yaml", two)), timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    one = fit(
        feature_config(tmp_path, bench, features, data={"batch_size": 16}, output={"name": "one"})
    )

    two_dir = tmp_path / "runs" / "two"
    summary = json.loads((two_dir / "summary.json").read_text())
    assert summary["world_size"] == 2
    for key, value in one.summary["test"].items():
        if value is None:
            assert summary["test"][key] is None
        else:
            assert summary["test"][key] == pytest.approx(value, abs=1e-6), key
    n_test = Benchmark.load(bench).splits["test"].labels.n_samples
    indices = np.load(two_dir / "predictions" / "test.indices.npy")
    np.testing.assert_array_equal(indices, np.arange(n_test))  # each sample exactly once
    np.testing.assert_allclose(
        np.load(two_dir / "predictions" / "test.logits.npy"),
        np.load(one.run_dir / "predictions" / "test.logits.npy"),
        atol=1e-5,
    )
