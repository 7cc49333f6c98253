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


def test_ops_without_the_private_torch_probes_take_the_dispatcher(monkeypatch):
    """On a torch that lacks the private functions the eager fast path reads, every op call goes
    through torch.ops.mcwes.* and gives the same results (the README's compatibility claim)."""
    import torch

    from mcwes import ops
    from mcwes.ops import _util

    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 20, 3, generator=g, requires_grad=True)
    lengths = torch.tensor([20, 7, 1])
    k = ops.topk_k(lengths, (7, 9, 5))
    q = torch.randn(2, 9, 4, generator=g, dtype=torch.float64)
    fast = (ops.topk_pool(x, k, lengths), ops.cscm_attention(q, torch.tensor([9, 5])))
    assert _util.eager_fast_path(x)
    monkeypatch.setattr(_util, "_PROBES", None)
    assert not _util.eager_fast_path(x)
    slow = (ops.topk_pool(x, k, lengths), ops.cscm_attention(q, torch.tensor([9, 5])))
    for a, b in zip(fast, slow):
        assert torch.equal(a, b)
    (gx,) = torch.autograd.grad(slow[0].sum(), x)
    assert gx.shape == x.shape and torch.isfinite(gx).all()


def test_dataset_facts_have_one_home():
    """fps, snippet size and annotation file of each dataset come from mcwes.data.facts everywhere."""
    from mcwes.data import annotations, dataset, facts, synthetic

    assert set(facts.DATASETS) == set(mcwes.Config.preset_names()) == set(synthetic.PRESETS)
    for name, f in facts.DATASETS.items():
        cfg = mcwes.Config.preset(name)
        assert (cfg.data.fps, cfg.data.snippet_frames) == (f.fps, f.snippet_frames)
        assert (dataset.DATASET_INFO[name].fps, dataset.DATASET_INFO[name].snippet_frames) == (f.fps, f.snippet_frames)
        assert annotations.DEFAULT_FPS[name] == f.fps
        p = synthetic.PRESETS[name]
        assert (p.fps, p.snippet_frames, p.annotation_file) == (f.fps, f.snippet_frames, f.annotation_file)
