"""Config validation field by field: every invalid value is rejected when the Config is
built, with the field's name in the message; YAML round trips; unknown fields and groups are refused."""
from __future__ import annotations

import pytest

from mcwes.config import Config

INVALID = [
    # (group, field, value)
    ("train", "h", (7.0, -9.0, 5.0)),
    ("train", "h", (7.0, 0.0, 5.0)),
    ("train", "h", (7.0, float("nan"), 5.0)),
    ("train", "h", (7.0, 9.0)),
    ("train", "omega_l", -0.1),
    ("train", "omega_l", 1.4),  # omega_l >= omega_u (1.4)
    ("train", "omega_l", 2.0),
    ("train", "omega_u", 0.0),
    ("train", "eta", 0),
    ("train", "eta", -2),
    ("train", "eta", 1.5),
    ("train", "lr", -1e-3),
    ("train", "iterations", 0),
    ("train", "batch_size", -1),
    ("train", "lambdas", (0.5, 0.5, 0.8)),
    ("data", "snippet_frames", 0),
    ("data", "snippet_frames", -8),
    ("data", "snippet_frames", 8.5),
    ("data", "fps", 0.0),
    ("data", "fps", float("inf")),
    ("model", "feature_dim", 0),
    ("model", "n_classes", -1),
    ("model", "fusion", "nope"),
    ("spot", "psi", -0.25),
    ("spot", "varsigma", -0.1),
    ("spot", "nms_threshold", -0.01),
    ("spot", "nms_threshold", 1.5),
    ("spot", "nms_threshold", float("nan")),
    ("spot", "score_threshold", -0.1),
    ("spot", "score_threshold", float("nan")),
    ("spot", "m0", 0),
    ("spot", "n_m", -1),
    ("spot", "thresholds", (0.1, 1.2)),
    ("spot", "thresholds", ()),
    ("spot", "postprocess", "other"),
]


@pytest.mark.parametrize("group,field,value", INVALID, ids=[f"{g}.{f}={v!r}" for g, f, v in INVALID])
def test_invalid_values_are_rejected_naming_the_field(group, field, value):
    with pytest.raises(ValueError, match=rf"mcwes\.Config: expected {group}\.{field} "):
        Config.preset("casme2", **{group: {field: value}})
    with pytest.raises(ValueError, match=rf"{group}\.{field}"):
        Config.from_dict({group: {field: value}})


def test_boundary_values_are_accepted():
    cfg = Config.preset("casme2", train={"omega_l": 0.0, "omega_u": 1e-9, "eta": 1},
                        spot={"nms_threshold": 1.0, "score_threshold": 0.0, "psi": 0.0},
                        data={"snippet_frames": 1})
    assert cfg.train.eta == 1 and cfg.spot.nms_threshold == 1.0


def test_built_config_is_validated_again_on_replace():
    cfg = Config.preset("casme2")
    with pytest.raises(ValueError, match=r"train\.omega_l"):
        cfg.replace(train={"omega_l": 1.5})
    assert cfg.train.omega_l == 1.2  # the original is untouched


@pytest.mark.parametrize("preset", Config.preset_names())
def test_yaml_round_trip(tmp_path, preset):
    cfg = Config.preset(preset, train={"iterations": 7, "h": (3, 4, 5)}, spot={"thresholds": (0.2, 0.4)})
    path = tmp_path / "c.yaml"
    cfg.to_yaml(path)
    again = Config.from_yaml(path)
    assert again == cfg and again.train.h == (3.0, 4.0, 5.0)
    assert Config.from_yaml(cfg.to_yaml()) == cfg  # YAML text works as well


def test_unknown_fields_groups_and_bad_yaml(tmp_path):
    with pytest.raises(ValueError, match=r"unknown fields \['etaa'\] in train"):
        Config.from_dict({"train": {"etaa": 3}})
    with pytest.raises(ValueError, match=r"unknown top-level keys \['trian'\]"):
        Config.from_dict({"trian": {}})
    with pytest.raises(ValueError, match=r"expected override groups"):
        Config.preset("casme2", nope={"x": 1})
    with pytest.raises(ValueError, match=r"expected preset to be one of"):
        Config.preset("casme9")
    with pytest.raises(ValueError, match=r"expected train to be a mapping"):
        Config.from_dict({"train": [1, 2]})
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ValueError, match=r"bad\.yaml is not valid YAML"):
        Config.from_yaml(bad)
    bad.write_text("train:\n  eta: 0\n")
    with pytest.raises(ValueError, match=r"train\.eta"):
        Config.from_yaml(bad)


def test_default_config_has_a_name_and_saves(tmp_path):
    """``Config.preset`` is the classmethod; the name of the preset a config started from is the field
    ``preset_name``, so a config built without a preset saves to YAML and loads back."""
    cfg = Config()
    assert cfg.preset_name == "casme2" and callable(Config.preset)
    assert Config.from_yaml(cfg.to_yaml()) == cfg
    path = tmp_path / "c.yaml"
    cfg.replace(train={"iterations": 3}).to_yaml(path)
    assert Config.from_yaml(path).train.iterations == 3
    assert Config.preset("samm_lv").preset_name == "samm_lv"
    assert Config.from_dict({}).preset_name == "custom"


def test_yaml_with_the_old_preset_key_still_loads():
    old = "preset: samm_lv\ntrain:\n  iterations: 5\n"  # what to_yaml wrote before the field's rename
    cfg = Config.from_yaml(old)
    assert cfg.preset_name == "samm_lv" and cfg.train.iterations == 5
    assert "preset_name: samm_lv" in cfg.to_yaml() and "\npreset:" not in cfg.to_yaml()
    assert Config.from_dict({"preset": "x", "preset_name": "x"}).preset_name == "x"
    with pytest.raises(ValueError, match=r"both preset_name='a' and the older key preset='b'"):
        Config.from_dict({"preset_name": "a", "preset": "b"})
