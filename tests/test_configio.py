import pytest

from scaling.configio import apply_overrides, describe, from_dict, load_yaml
from scaling.errors import ConfigError
from scaling.train.config import RunConfig, load_run_config


def test_defaults_and_nested_override():
    cfg = from_dict(RunConfig, apply_overrides({"train": {"steps": 5}},
                                               ["optim.lr=3e-4", "model.d_model=64"]))
    assert cfg.optim.lr == 3e-4 and cfg.model.d_model == 64 and cfg.train.steps == 5


@pytest.mark.parametrize("data,key", [
    ({"modle": {}}, "modle"),
    ({"model": {"d_modle": 3}}, "model.d_modle"),
    ({"model": {"d_model": "wide"}}, "model.d_model"),
    ({"model": {"d_model": 100, "n_heads": 3}}, "model.n_heads"),
    ({"optim": {"schedule": "linear"}}, "optim.schedule"),
    ({"train": {"steps": 5, "tokens": 10}}, "train.tokens"),
    ({"data": {"tokenizer": "bpe", "vocab_size": 10}}, "data.vocab_size"),
    ({"objective": "gpt"}, "objective"),
])
def test_errors_name_file_and_key(data, key):
    with pytest.raises(ConfigError) as e:
        from_dict(RunConfig, data, file="my.yaml")
    assert e.value.key == key
    assert "my.yaml" in str(e.value) and key in str(e.value)


def test_unknown_key_suggests_fix():
    with pytest.raises(ConfigError, match="did you mean 'd_model'"):
        from_dict(RunConfig, {"model": {"d_modle": 3}})


def test_yaml_is_safe_loaded(tmp_path):
    p = tmp_path / "evil.yaml"
    p.write_text("name: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(p)


def test_numbers_written_without_dot(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("optim: {lr: 3e-4}\ntrain: {tokens: 1_000_000}\n")
    cfg = load_run_config(str(p))
    assert cfg.optim.lr == 3e-4 and cfg.train.tokens == 1_000_000


def test_every_field_is_documented():
    rows = describe(RunConfig)
    assert len(rows) > 40
    assert all(doc for _, _, doc in rows), [k for k, _, d in rows if not d]
