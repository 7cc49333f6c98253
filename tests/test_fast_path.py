"""The eager fast path of the ops (mcwes.ops._util.eager_fast_path): taken for plain eager calls, left
whenever torch machinery could need the registered op. It reads two private torch functions (the only
ones mcwes calls); these tests pin that the tested torch has them and that every case they and the
public torch.overrides.has_torch_function detect sends the call through the dispatcher."""
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from mcwes import ops
from mcwes.ops import _util


def test_the_tested_torch_has_the_private_probes():
    # A torch release that renames them would silently make every op call slower: fail here instead.
    assert _util._private_probes() is not None
    assert _util._PROBES is not None


def test_plain_tensors_take_the_fast_path():
    x = torch.randn(2, 3, 1)
    assert _util.eager_fast_path(x, torch.tensor([3, 2]))


def test_a_function_mode_leaves_the_fast_path():
    class Seen(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            return func(*args, **(kwargs or {}))

    x = torch.randn(2, 3, 1)
    with Seen():
        assert not _util.eager_fast_path(x)


def test_a_dispatch_mode_leaves_the_fast_path():
    class Seen(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            return func(*args, **(kwargs or {}))

    x = torch.randn(2, 3, 1)
    with Seen():
        assert not _util.eager_fast_path(x)


def test_a_tensor_subclass_leaves_the_fast_path():
    class Sub(torch.Tensor):
        pass

    x = torch.randn(2, 3, 1).as_subclass(Sub)
    assert not _util.eager_fast_path(torch.randn(2, 3, 1), x)


def test_vmap_leaves_the_fast_path():
    seen = []

    def probe(x):
        seen.append(_util.eager_fast_path(x))
        return x * 2

    torch.func.vmap(probe)(torch.randn(4, 5, 2))
    assert seen == [False]


def test_an_op_under_vmap_gives_the_loop_result():
    # vmap runs the registered op through torch's batching fallback (one call per sample); the argument
    # checks before dispatch must let the storage-less wrappers through.
    x = torch.randn(4, 5, 2, generator=torch.Generator().manual_seed(0))

    def pool(v):
        return ops.topk_pool(v.unsqueeze(0), [1, 2]).squeeze(0)

    batched = torch.func.vmap(pool)(x)
    looped = torch.stack([pool(v) for v in x])
    torch.testing.assert_close(batched, looped, rtol=0, atol=0)
