"""What several test files share, one home each: small digits DataLoaders, a plain MLP Learner on them, and — from
`fastai_remedies.guarantees`, whose page runs them too — the callback that raises at an event (`RaiseAt`), the
Learner's state that a failure must leave as it was (`learner_state`) and its forward hooks (`forward_hooks`).

Test files import them with `from conftest import ...`; the package is imported only when a name is first asked for,
so that light test files (imports, packaging) do not pay for torch and fastai."""
import functools, importlib

_FROM_GUARANTEES = ('RaiseAt', 'learner_state', 'forward_hooks', 'BATCH_EVENTS', 'CALLBACKS')

def __getattr__(name):
    if name in _FROM_GUARANTEES: return getattr(importlib.import_module('fastai_remedies.guarantees'), name)
    raise AttributeError(name)

@functools.lru_cache(None)
def small_digits(n_train:int=48, n_valid:int=32, bs:int=16):
    "The embedded digits, `n_train` training and `n_valid` validation images, built once per size"
    from fastai_remedies.data import digits_dls
    return digits_dls(n_train=n_train, n_valid=n_valid, bs=bs)

def mlp_learner(cbs=(), dls=None, hidden=(32,), **kwargs):
    "A Learner with a small MLP on `small_digits()` (or `dls`), accuracy as metric"
    from fastai.basics import Learner, accuracy
    from fastai_remedies.data import mlp
    return Learner(dls or small_digits(), mlp(64, 10, hidden=hidden, flatten=True), metrics=accuracy, cbs=list(cbs), **kwargs)
