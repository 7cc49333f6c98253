"""The public names: what the README documents exists, and no public attribute hides a submodule of the
same name (``mcwes.loso`` once was a function that made ``mcwes.loso.split`` fail)."""
from __future__ import annotations

import importlib
import pkgutil
import types

import pytest

import mcwes


def _subpackages(package: types.ModuleType) -> list[str]:
    return [info.name for info in pkgutil.walk_packages(package.__path__, package.__name__ + ".") if info.ispkg]


# mcwes.ops keeps one module per op named after it (python/mcwes/ops/<op>.py holds that op and nothing
# else, the layout every op follows), so there ``mcwes.ops.<op>`` is the op by design.
ONE_MODULE_PER_OP = {"mcwes.ops"}
PACKAGES = ["mcwes"] + _subpackages(mcwes)


@pytest.mark.parametrize("module_name", [p for p in PACKAGES if p not in ONE_MODULE_PER_OP])
def test_no_public_name_shadows_a_submodule(module_name):
    module = importlib.import_module(module_name)
    for child in pkgutil.iter_modules(module.__path__):
        value = getattr(module, child.name, None)
        if value is not None:
            assert isinstance(value, types.ModuleType) and value.__name__ == f"{module_name}.{child.name}", (
                f"{module_name}.{child.name} is {value!r}, which hides the submodule {module_name}.{child.name}")


def test_documented_names_exist():
    for name in ["Config", "MCWES", "Trainer", "Proposal", "Proposals", "EvaluationResult", "evaluate", "load",
                 "spot", "loso", "split", "LosoResult", "build_info", "data", "ops", "reference", "losses",
                 "crossval"]:
        assert name in mcwes.__all__ and hasattr(mcwes, name), name
    assert callable(mcwes.loso) and callable(mcwes.split) and callable(mcwes.Config.preset)
    assert mcwes.loso is mcwes.crossval.loso and mcwes.split is mcwes.crossval.split
    assert isinstance(mcwes.crossval, types.ModuleType)
    for op in ["topk_pool", "topk_k", "cscm_attention", "duration_mask", "multi_top_proposals",
               "outer_inner_scores", "nms_1d", "spot_postprocess"]:
        assert callable(getattr(mcwes.ops, op)), op
    assert hasattr(mcwes.data, "SpottingDataset")


def test_package_is_marked_typed():
    from pathlib import Path

    assert (Path(mcwes.__file__).parent / "py.typed").is_file()
