import pytest

from runstore import InputError, parse_override
from scaling.configio import apply_overrides, describe, from_dict, load_yaml
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
    with pytest.raises(InputError) as e:
        from_dict(RunConfig, data, file="my.yaml")
    assert e.value.key == key
    assert "my.yaml" in str(e.value) and key in str(e.value)


def test_unknown_key_suggests_fix():
    with pytest.raises(InputError, match="did you mean 'd_model'"):
        from_dict(RunConfig, {"model": {"d_modle": 3}})


def test_yaml_is_safe_loaded(tmp_path):
    p = tmp_path / "evil.yaml"
    p.write_text("name: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_yaml(p)


def test_numbers_written_without_dot(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("optim: {lr: 3e-4}\ntrain: {tokens: 1_000_000}\n")
    cfg = load_run_config(str(p))
    assert cfg.optim.lr == 3e-4 and cfg.train.tokens == 1_000_000


def test_every_field_is_documented():
    rows = describe(RunConfig)
    assert len(rows) > 40
    assert all(r.doc for r in rows), [r.key for r in rows if not r.doc]


def test_describe_has_types_and_defaults():
    rows = {r.key: r for r in describe(RunConfig)}
    assert rows["optim.lr"][1:3] == ("float", "0.003")
    assert rows["train.batch_size"][1:3] == ("int", "16")
    assert rows["objective"].type == "clm | mlm | span"
    assert rows["data.synthetic_bytes"].default == "2_000_000"
    assert rows["train.trackers"][1:3] == ("list[jsonl | tensorboard | wandb]", "[jsonl]")


def test_describe_sweep_optional_and_list_sections():
    from scaling.sweep.config import SweepConfig
    rows = {r.key: r for r in describe(SweepConfig)}
    assert rows["name"].default == "required" and rows["grid.params"].default == "required"
    assert rows["recipe.lr"].type == "SizeRule | null" and "recipe.lr.exponent" in rows
    assert rows["extra_seeds[].seeds"].type == "list[int]"


@pytest.mark.parametrize("text,value", [
    ("optim.lr=3e-4", 3e-4), ("train.tokens=4e6", 4e6), ("train.tokens=1_000_000", 1_000_000),
    ("data.source=stdlib", "stdlib"), ("train.trackers=[jsonl, wandb]", ["jsonl", "wandb"]),
    ("train.init_from=", ""),
])
def test_override_values_are_yaml_12(text, value):
    assert parse_override(text)[1] == value


def test_integral_float_is_an_integer(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("train: {tokens: 1e6}\n")
    cfg = load_run_config(str(p), ["train.tokens=4e6"])
    assert cfg.train.tokens == 4_000_000 and type(cfg.train.tokens) is int
    with pytest.raises(InputError, match="expected an integer") as e:
        load_run_config(str(p), ["train.tokens=4.5e0"])
    assert e.value.key == "train.tokens"


@pytest.mark.parametrize("text", ["optim.lr", "=3", "optim..lr=3", "optim.lr=[1, 2"])
def test_bad_override_is_an_input_error(text):
    with pytest.raises(InputError) as e:
        apply_overrides({}, [text])
    assert "--set" in str(e.value)


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: x\nmodel: {d_model: 64\n")
    with pytest.raises(InputError, match="not valid YAML") as e:
        load_yaml(p)
    assert e.value.file == str(p) and e.value.line
