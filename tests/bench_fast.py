"""Each private PyTorch internal of `fastai_remedies.fast` against its public fallback (`make bench`), measured where it
is used: ratio = time with the internal / time with the public fallback, interleaved, median over rounds (< 1: it pays).

- sample_dirichlet: `sample_lam` (λ draws) for one λ (mode='batch') and 128 (mode='elem')
- tensor_base: `MixUp.before_batch` on a 128x3x64x64 batch: mix in place vs on a copy
- plain_setattr: a whole `MixUp` batch (before_batch, after_pred, loss, after_loss) on a real Learner with a 64x64 batch,
  where the per-batch state writes are the only difference
`remove_forward_hooks`' hook dictionaries are clean-up after an interrupted fit, not a speed path: not timed."""
import time, warnings, statistics
warnings.filterwarnings('ignore')
import torch
from fastai.basics import Learner, CrossEntropyLossFlat
from fastai.test_utils import synth_learner
from fastai_remedies.fast import public_only
from fastai_remedies.mix import MixUp, sample_lam

def per_call(f, k):
    t = time.perf_counter()
    for _ in range(k): f()
    return (time.perf_counter() - t) / k

def ratio(f, flag, k, rounds=21):
    "Median per-call time of `f` with internal `flag` over without it, interleaved round by round"
    fast, slow = [], []
    f(); 
    with public_only(flag): f()
    for _ in range(rounds):
        fast.append(per_call(f, k))
        with public_only(flag): slow.append(per_call(f, k))
    return statistics.median(fast), statistics.median(slow)

class FakeLearner:
    training, pct_train, epoch, n_epoch, dls = True, 0., 0, 1, None
    def __init__(self, loss_func): self.loss_func, self.cbs = loss_func, []

def mixup_batch(n, c, s, real=False):
    "One `MixUp` batch on a fresh copy of a random batch: before_batch (+ after_pred, loss, after_loss with `real`)"
    x, y = torch.randn(n, c, s, s), torch.randint(0, 10, (n,))
    pred = torch.randn(n, 10)
    cb = MixUp(mode='batch')
    learn = synth_learner() if real else FakeLearner(CrossEntropyLossFlat())
    if real: learn.loss_func = CrossEntropyLossFlat()
    cb.learn = learn
    if real: learn.training = True
    def run():
        learn.xb, learn.yb = (x.clone(),), (y,)
        cb.before_batch()
        if real:
            cb.after_pred(); learn.loss_func(pred, *learn.yb); cb.after_loss()
    return run

if __name__ == '__main__':
    print(__doc__.split('\n')[0])
    print(f"torch threads: {torch.get_num_threads()}")
    rows = [('sample_dirichlet', 'sample_lam(.4, 1)', lambda: sample_lam(.4, 1), 2000),
            ('sample_dirichlet', 'sample_lam(.4, 128)', lambda: sample_lam(.4, 128), 2000),
            ('tensor_base', 'MixUp before_batch, 128x3x64x64', mixup_batch(128, 3, 64), 10),
            ('plain_setattr', 'MixUp batch on a Learner, 64x1x8x8', mixup_batch(64, 1, 8, real=True), 500)]
    for flag, what, f, k in rows:
        a, b = ratio(f, flag, k)
        print(f"  {flag:<17} {what:<38} internal {a*1e6:9.1f} us  public {b*1e6:9.1f} us  ratio {a/b:5.2f}"
              f"  ({'pays' if a < .95*b else 'does not pay'})")
