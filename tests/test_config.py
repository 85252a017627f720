import shutil
from pathlib import Path

import pytest
import yaml

from sparkvalue.config import ConfigError, load_config

CONF = Path(__file__).resolve().parents[1] / "conf"


def _conf_copy(tmp_path: Path, edit_env=None, edit_base=None) -> Path:
    conf = tmp_path / "conf"
    shutil.copytree(CONF, conf)
    for name, edit in (("local.yaml", edit_env), ("base.yaml", edit_base)):
        if edit:
            data = yaml.safe_load((conf / name).read_text()) or {}
            edit(data)
            (conf / name).write_text(yaml.safe_dump(data))
    return conf


def test_every_environment_loads():
    for env in ("local", "cluster"):
        settings = load_config(env, CONF)
        assert settings.env == env
    local = load_config("local", CONF)
    assert local.spark.master == "local[2]"
    assert local.value.tiers.high == pytest.approx(0.10)
    assert local.path("landing").endswith(".data/landing")
    assert local.path("mlflow_tracking_uri").startswith("sqlite:///")


def test_unknown_key_names_file_and_key(tmp_path):
    conf = _conf_copy(tmp_path, edit_env=lambda d: d["spark"].update(driver_memry="2g"))
    with pytest.raises(ConfigError) as err:
        load_config("local", conf)
    assert f"{conf / 'local.yaml'}: spark.driver_memry: unknown key" in str(err.value)


def test_wrong_type_names_file_key_and_value(tmp_path):
    conf = _conf_copy(tmp_path, edit_env=lambda d: d["spark"].update(shuffle_partitions="many"))
    with pytest.raises(ConfigError) as err:
        load_config("local", conf)
    message = str(err.value)
    assert f"{conf / 'local.yaml'}: spark.shuffle_partitions:" in message
    assert "'many'" in message


def test_missing_path_is_an_error(tmp_path):
    conf = _conf_copy(tmp_path, edit_base=lambda d: d["paths"].pop("landing"))
    with pytest.raises(ConfigError) as err:
        load_config("local", conf)
    assert "paths.landing: required key is missing" in str(err.value)
    assert "base.yaml" in str(err.value)


def test_business_rules_are_validated(tmp_path):
    conf = _conf_copy(tmp_path, edit_env=lambda d: d.update(value={"tiers": {
        "high": 0.2, "mid_high": 0.2, "mid": 0.6, "low": 0.1}}))
    with pytest.raises(ConfigError, match="value.tiers: .*add up to 1"):
        load_config("local", conf)


def test_missing_environment_file(tmp_path):
    with pytest.raises(ConfigError, match="staging.yaml: configuration file not found"):
        load_config("staging", CONF)


def test_overrides_are_validated():
    settings = load_config("local", CONF)
    assert settings.with_overrides({"generate": {"subscribers": 5000}}).generate.subscribers == 5000
    with pytest.raises(ConfigError, match="generate.subscribers"):
        settings.with_overrides({"generate": {"subscribers": 10}})
