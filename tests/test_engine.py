"""Engine end to end on tiny synthetic benchmarks: outputs, selection, determinism, errors."""

import errno
import json
import os
import types

import numpy as np
import pytest
import yaml
from sklearn.metrics import average_precision_score

import palt._io
from engine_helpers import (
    array_benchmark,
    feature_benchmark,
    feature_config,
    text_benchmark,
    write_config,
)
from palt.cli import main
from palt.data.benchmark import Benchmark, BenchmarkError
from palt.engine import ConfigError, TrainingDiverged, fit


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("engine")
    bench, features = feature_benchmark(root)
    return root, bench, features


@pytest.fixture(scope="module")
def run(data):
    root, bench, features = data
    return fit(feature_config(root, bench, features, output={"name": "base"}))


def masked_map(logits, labels):
    """Mean over classes of sklearn AP on the annotated entries of each class."""
    aps = []
    for c in range(labels.shape[1]):
        keep = labels[:, c] >= 0
        y = labels[keep, c]
        if y.min() == 1 or y.max() == 0:
            continue
        aps.append(average_precision_score(y, logits[keep, c]))
    return float(np.mean(aps))


def test_run_directory_contents(run, data):
    root, bench, _ = data
    rd = run.run_dir
    for name in ("config.yaml", "metrics.csv", "summary.json", "per_class.csv"):
        assert (rd / name).is_file(), name
    test = Benchmark.load(bench).splits["test"].labels
    indices = np.load(rd / "predictions" / "test.indices.npy")
    logits = np.load(rd / "predictions" / "test.logits.npy")
    assert logits.dtype == np.float32
    np.testing.assert_array_equal(indices, np.arange(test.n_samples))
    # the reported test mAP is the masked AP of the saved predictions (independent: sklearn)
    summary = json.loads((rd / "summary.json").read_text())
    assert summary["test"]["mAP"] == pytest.approx(masked_map(logits, test.to_dense()), abs=1e-9)
    assert run.summary["test"]["mAP"] == summary["test"]["mAP"]
    assert summary["test"]["mAP"] > 0.6  # the toy problem is learnable
    # per_class.csv: label counts counted here from the dense matrices
    train = Benchmark.load(bench).splits["train"].labels.to_dense()
    rows = list(__import__("csv").DictReader((rd / "per_class.csv").open()))
    assert [r["class"] for r in rows] == ["a", "b", "c", "d", "e"]
    for c, r in enumerate(rows):
        assert int(r["train_pos"]) == (train[:, c] == 1).sum()
        assert int(r["train_unknown"]) == (train[:, c] == -1).sum()
        assert int(r["test_neg"]) == (test.to_dense()[:, c] == 0).sum()
        assert r["group"] in ("head", "medium", "tail")
    # the resolved config holds the method's full hyper-parameters and loads again
    resolved = yaml.safe_load((rd / "config.yaml").read_text())
    assert "reduction" in resolved["method"]["params"] or resolved["method"]["params"]


def test_selection_uses_validation(run):
    rows = list(__import__("csv").DictReader((run.run_dir / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert not any(k.startswith("test_") for k in rows[0])  # test never seen during training
    val = [float(r["val_mAP"]) for r in rows]
    sel = run.summary["selection"]
    assert sel["on"] == "val" and sel["epoch"] == int(np.argmax(val)) + 1
    assert sel["score"] == pytest.approx(max(val))


def test_best_on_test_is_labelled(data):
    root, bench, features = data
    result = fit(
        feature_config(
            root,
            bench,
            features,
            trainer={"select_on": "test", "epochs": 2},
            output={"name": "on-test"},
        )
    )
    assert "best-on-test" in result.summary["selection"]["label"]
    rows = list(__import__("csv").DictReader((result.run_dir / "metrics.csv").open()))
    assert "test_mAP" in rows[0]


def test_same_seed_same_run(run, data):
    root, bench, features = data
    again = fit(feature_config(root, bench, features, output={"name": "again"}))
    for name in ("metrics.csv", "per_class.csv", "predictions/test.logits.npy"):
        assert (again.run_dir / name).read_bytes() == (run.run_dir / name).read_bytes(), name


def test_existing_run_dir_is_not_overwritten(run, data):
    root, bench, features = data
    with pytest.raises(FileExistsError, match="--resume"):
        fit(feature_config(root, bench, features, output={"name": "base"}))


def test_unknown_method_and_backbone_fail_before_work(data):
    root, bench, features = data
    cfg = feature_config(root, bench, features, output={"name": "never"})
    with pytest.raises(ConfigError, match=r"unknown method 'nope'; valid names: .*bce"):
        fit({**cfg, "method": {"name": "nope"}})
    with pytest.raises(
        ConfigError, match=r"unknown backbone 'resnet'; valid names: cnn, identity, mlp"
    ):
        fit({**cfg, "model": {"backbone": "resnet"}})
    assert not (root / "runs" / "never").exists()


def test_missing_benchmark_file_is_named(tmp_path):
    bench, features = feature_benchmark(tmp_path)
    (bench / "test" / "labels.npz").unlink()
    with pytest.raises(
        (BenchmarkError, FileNotFoundError), match=r"test/labels.npz: file not found"
    ):
        fit(feature_config(tmp_path, bench, features))
    (features / "val.npy").unlink()
    bench2, _ = feature_benchmark(tmp_path / "b2")
    with pytest.raises(FileNotFoundError, match=r"val.npy: feature file not found"):
        fit(feature_config(tmp_path, bench2, features))


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    bench, features = feature_benchmark(tmp_path)
    x = np.load(features / "train.npy")
    order = np.random.default_rng([0, 0]).permutation(len(x))  # first epoch's order (seed 0)
    x[order[20]] = np.nan  # in the second batch (batch size 16)
    np.save(features / "train.npy", x)
    cfg = feature_config(tmp_path, bench, features, trainer={"checkpoint_every": 1})
    with pytest.raises(
        TrainingDiverged, match=r"loss is nan at epoch 1 \(0-based 0\), step 2 of 4"
    ):
        fit(cfg)
    rd = tmp_path / "runs" / "run"
    last = json.loads((rd / "checkpoints" / "last.json").read_text())["checkpoint"]
    assert last == "step-00000001"  # the one good step
    state = json.loads((rd / "checkpoints" / last / "state.json").read_text())
    assert state["progress"]["epoch"] == 0 and state["progress"]["step"] == 1
    assert not (rd / "summary.json").exists()


def test_write_failure_is_clear_and_keeps_previous_outputs(run, data, monkeypatch):
    root, bench, features = data
    before = {n: (run.run_dir / n).read_bytes() for n in ("config.yaml", "summary.json")}

    def no_space(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))

    fake_os = types.SimpleNamespace(
        **{k: getattr(os, k) for k in dir(os) if not k.startswith("__")}
    )
    fake_os.replace = no_space
    monkeypatch.setattr(palt._io, "os", fake_os)
    cfg = feature_config(root, bench, features, output={"name": "base", "overwrite": True})
    with pytest.raises(
        OSError, match=r"cannot write .*config.yaml: No space left on device; previous outputs"
    ):
        fit(cfg)
    monkeypatch.undo()
    for name, content in before.items():
        assert (run.run_dir / name).read_bytes() == content
    assert (run.run_dir / "checkpoints" / "best.safetensors").is_file()
    assert not [p for p in run.run_dir.iterdir() if p.name.endswith(".tmp")]


def test_class_aware_sampler_and_schedule_and_ema(data):
    root, bench, features = data
    result = fit(
        feature_config(
            root,
            bench,
            features,
            data={"sampler": "class_aware"},
            optim={"name": "sgd", "lr": 0.5, "ema": 0.9, "grad_clip": 1.0, "weight_decay": 1e-3},
            schedule={"name": "cosine", "warmup_epochs": 1},
            model={"backbone": "mlp", "params": {"hidden": [8]}},
            trainer={"epochs": 2},
            output={"name": "variants"},
        )
    )
    assert np.isfinite(result.summary["test"]["mAP"])


def test_prior_stage_runs_for_csl(data):
    root, bench, features = data
    result = fit(
        feature_config(
            root,
            bench,
            features,
            method={"name": "csl-selective", "params": {"prior_epochs": 1}},
            trainer={"epochs": 1},
            output={"name": "csl"},
        )
    )
    assert np.isfinite(result.summary["test"]["mAP"])


def test_array_images_with_cnn(tmp_path):
    bench = array_benchmark(tmp_path)
    cfg = {
        "data": {
            "benchmark": str(bench),
            "batch_size": 8,
            "augment": {"crop_padding": 1, "flip": False},
        },
        "model": {"params": {"widths": [8, 16]}},
        "method": {"name": "bce"},
        "optim": {"lr": 0.01},
        "trainer": {"epochs": 2, "progress": "off"},
        "output": {"dir": str(tmp_path / "runs"), "name": "img"},
    }
    result = fit(cfg)
    logits = np.load(result.run_dir / "predictions" / "test.logits.npy")
    assert logits.shape == (13, 5)


def test_evaluate_and_predict_commands(run, data, tmp_path):
    root, bench, features = data
    assert main(["evaluate", str(run.run_dir), "--split", "test"]) == 0
    evaluated = json.loads((run.run_dir / "eval-test.json").read_text())
    assert evaluated["mAP"] == pytest.approx(run.summary["test"]["mAP"], abs=1e-7)
    target = tmp_path / "new.npy"
    assert (
        main(["predict", str(run.run_dir), str(features / "test.npy"), "--out", str(target)]) == 0
    )
    saved = np.load(run.run_dir / "predictions" / "test.logits.npy")
    np.testing.assert_allclose(np.load(target), saved, atol=1e-6)
    assert len((tmp_path / "new.jsonl").read_text().splitlines()) == len(saved)


def test_cli_config_error_names_key(tmp_path, data, capsys):
    root, bench, features = data
    path = write_config(tmp_path / "c.yaml", feature_config(root, bench, features))
    assert main(["train", str(path), "optim.name=lamb"]) == 2
    err = capsys.readouterr().err
    assert "optim.name: 'lamb' is not allowed; allowed values: sgd, adam, adamw" in err


def test_text_benchmark_tfidf_train_and_predict(tmp_path):
    bench = text_benchmark(tmp_path)
    cfg = {
        "data": {"benchmark": str(bench), "batch_size": 10, "text": {"min_df": 1}},
        "method": {"name": "bce-ignore"},
        "optim": {"name": "adam", "lr": 0.1, "weight_decay": 0.0},
        "trainer": {"epochs": 4, "progress": "off"},
        "output": {"dir": str(tmp_path / "runs"), "name": "text"},
    }
    result = fit(cfg)
    assert result.summary["test"]["mAP"] > 0.8  # keywords give the classes away
    texts = tmp_path / "new.txt"
    test_texts = [r["text"] for r in Benchmark.load(bench).splits["test"].inputs]
    texts.write_text("\n".join(["audio tool program", "game science data", *test_texts]) + "\n")
    assert main(["predict", str(result.run_dir), str(texts), "--out", str(tmp_path / "p.npy")]) == 0
    logits = np.load(tmp_path / "p.npy")
    assert logits[0, 0] > logits[1, 0] and logits[1, 3] > logits[0, 3]  # audio vs game
    saved = np.load(result.run_dir / "predictions" / "test.logits.npy")
    np.testing.assert_allclose(logits[2:], saved, atol=1e-6)  # same TF-IDF, same model
    assert len((tmp_path / "p.jsonl").read_text().splitlines()) == len(logits)


def test_bf16_mixed_precision_on_cpu(data):
    root, bench, features = data
    result = fit(
        feature_config(
            root,
            bench,
            features,
            trainer={"precision": "bf16-mixed", "epochs": 1},
            output={"name": "bf16"},
        )
    )
    logits = np.load(result.run_dir / "predictions" / "test.logits.npy")
    assert logits.dtype == np.float32 and np.isfinite(logits).all()


def test_class_aware_sampler_options_set_the_epoch_length(data):
    from palt.engine.config import load_config
    from palt.engine.trainer import Trainer

    root, bench, features = data
    labels = Benchmark.load(bench).splits["train"].labels
    counts = labels.positive_counts()
    for reduce in (1, 4):
        raw = feature_config(
            root,
            bench,
            features,
            data={"sampler": "class_aware", "sampler_options": {"reduce": reduce}},
            output={"name": f"reduce{reduce}"},
        )
        order = Trainer(load_config(raw))._train_order()
        # DB's formula: max_c n_c · C' / reduce draws, C' = classes with a positive
        expected = int(counts.max()) * int((counts > 0).sum()) // reduce
        assert len(order(0)) == expected
    raw = feature_config(
        root, bench, features, data={"sampler": "class_aware", "sampler_options": {"redcue": 2}}
    )
    with pytest.raises(ConfigError, match=r"sampler_options: unknown key\(s\) \['redcue'\]"):
        Trainer(load_config(raw))._train_order()
