"""Config: YAML → typed dataclasses, dotted overrides, errors that name the key and the choices."""

from pathlib import Path

import pytest

from palt.engine.config import Config, ConfigError, load_config

CONFIGS = Path(__file__).resolve().parents[1] / "src" / "palt" / "configs"


def test_defaults_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  benchmark: b\nmethod:\n  name: asl\n  params: {gamma_neg: 4}\n")
    cfg = load_config(
        path, ["method.params.gamma_neg=3", "optim.lr=1e-2", "trainer.precision=bf16-mixed"]
    )
    assert isinstance(cfg, Config)
    assert cfg.method.name == "asl"
    assert cfg.method.params == {"gamma_neg": 3}
    assert cfg.optim.lr == pytest.approx(0.01) and isinstance(cfg.optim.lr, float)
    assert cfg.trainer.precision == "bf16-mixed"
    assert cfg.trainer.epochs == 10  # default
    assert cfg.data.batch_size == 64
    # YAML 1.1 reads "1e-3" as a string: typed floats and free-form params both get a number
    cfg = load_config({"optim": {"lr": "1e-3"}, "method": {"params": {"eps": "1e-8"}}})
    assert cfg.optim.lr == pytest.approx(1e-3)
    assert cfg.method.params["eps"] == pytest.approx(1e-8)
    # precision 32 written as an integer is accepted
    assert load_config({"trainer": {"precision": 32}}).trainer.precision == "32"
    # YAML 1.1 reads a bare off/on as a boolean: the on/off choice still gets its word
    assert load_config(path, ["trainer.progress=off"]).trainer.progress == "off"
    assert load_config(path, ["trainer.progress=on"]).trainer.progress == "on"


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config({"data": {"benchmark": "x"}, "schedule": {"name": "cosine"}})
    path = tmp_path / "resolved.yaml"
    path.write_text(cfg.to_yaml())
    assert load_config(path) == cfg


@pytest.mark.parametrize(
    ("raw", "overrides", "message"),
    [
        ({"optim": {"lrr": 1}}, [], r"optim.lrr: unknown key; allowed keys in optim: name, lr"),
        (
            {"trainer": {"precision": "8"}},
            [],
            r"trainer.precision: '8' is not allowed; allowed values: 32, 32-true, bf16-mixed, 16-mixed",
        ),
        (
            {"optim": {"name": "lamb"}},
            [],
            r"optim.name: 'lamb' is not allowed; allowed values: sgd, adam, adamw",
        ),
        ({"trainer": {"epochs": "many"}}, [], r"trainer.epochs: expected an integer"),
        (
            {"trainer": {"deterministic": "yes please"}},
            [],
            r"trainer.deterministic: expected true or false",
        ),
        ({"bogus": {}}, [], r"bogus: unknown key; allowed keys in config: data, model"),
        ({}, ["optim.lr"], r"expected key=value"),
        ({"optim": {"lr": 1}}, ["optim.lr.x=1"], r"optim.lr is not a section"),
        (
            {"data": {"sampler": "balanced"}},
            [],
            r"data.sampler: 'balanced' is not allowed; allowed values: auto, shuffle, class_aware",
        ),
    ],
)
def test_errors_name_the_key(raw, overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(raw, overrides)


def test_relative_paths_resolve_against_the_file(tmp_path):
    (tmp_path / "sub" / "bench").mkdir(parents=True)
    path = tmp_path / "sub" / "c.yaml"
    path.write_text("data:\n  benchmark: bench\n")
    assert Path(load_config(path).data.benchmark) == tmp_path / "sub" / "bench"


def test_unsafe_yaml_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(path)


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_are_valid(path):
    from palt.methods import available, create

    cfg = load_config(path)
    assert cfg.method.name in available()
    create(cfg.method.name, **cfg.method.params)  # parameters accepted
