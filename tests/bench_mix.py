"""Per-batch cost of input-level mixing (`make bench`): fastai_remedies' MixUp / CutMix / CutMixUp against fastai's
MixUp / CutMix, timm's `Mixup` in the same mode, and the floor `torch.lerp(x, x[perm], λ)`. CPU, float32.

Cost of one batch = the callback's `before_batch` work plus the Learner's loss call under mixing (vs fastai), or the
`before_batch` work alone (vs the floor, which gets its permutation and λ for free); for timm (which makes soft targets, so the loss is the plain one) and
ours with labels='onehot' it is the mixing call alone. Every ratio compares two methods measured interleaved in the
same run on fresh copies of the batch: median of per-batch times over 31 rounds. Ratios < 1 mean ours is faster."""
import time, warnings, statistics
warnings.filterwarnings('ignore')
import torch, torch.nn as nn
from fastai.basics import CrossEntropyLossFlat
from fastai.callback.mixup import MixUp as FMixUp, CutMix as FCutMix
from timm.data import Mixup as TimmMixup
from fastai_remedies.mix import MixUp, CutMix, CutMixUp

class FakeLearner:
    "What a mixing callback reads and writes during one training batch of a fastai Learner"
    training, pct_train, epoch, n_epoch, dls = True, 0., 0, 1, None
    def __init__(self, loss_func): self.loss_func, self.cbs = loss_func, []
    x = property(lambda self: self.xb[0]); y = property(lambda self: self.yb[0])

def batch_fn(cb, x, y, pred, ours):
    "One batch of `cb` on a fresh copy of `x`: before_batch, then the Learner's loss call as fit makes it"
    learn = FakeLearner(CrossEntropyLossFlat()); cb.learn = learn
    if not ours: cb.before_train()
    def run(xc):
        learn.xb, learn.yb = (xc,), (y,)
        cb.before_batch()
        if ours: cb.after_pred()
        loss = learn.loss_func(pred, *learn.yb)
        if ours: cb.after_loss()
        return loss
    return run

def timm_fn(mix, y):
    return lambda xc: mix(xc, y)

def onehot_fn(cb, y):
    learn = FakeLearner(nn.CrossEntropyLoss()); learn.dls = type('D', (), {'c': 10})(); cb.learn = learn
    def run(xc):
        learn.xb, learn.yb = (xc,), (y,)
        cb.before_batch()
        return learn.yb
    return run

def mix_only_fn(cb, y):
    "Our `before_batch` alone (input mixing, λ and partner draws, label bookkeeping)"
    learn = FakeLearner(CrossEntropyLossFlat()); cb.learn = learn
    def run(xc):
        learn.xb, learn.yb = (xc,), (y,)
        cb.before_batch()
    return run

def floor_fn(n):
    perm, lam = torch.randperm(n), torch.rand(n).view(n, 1, 1, 1)
    return lambda xc: torch.lerp(xc, xc[perm], lam)

def timeit(fns, x, rounds=15, k=5):
    "Median per-call seconds of each function in `fns`, interleaved round by round on fresh copies of `x`"
    res = {n: [] for n in fns}
    for f in fns.values(): f(x.clone())   # warm up
    for _ in range(rounds):
        for n, f in fns.items():
            tot = 0.
            for _ in range(k):
                xc = x.clone()
                t = time.perf_counter(); f(xc); tot += time.perf_counter() - t
            res[n].append(tot / k)
    return {n: statistics.median(v) for n, v in res.items()}

def ratio(a, b, x, rounds=31):
    "Median per-batch time of `a` over that of `b`, measured interleaved on fresh copies of `x`"
    t = timeit({'a': a, 'b': b}, x, rounds=rounds, k=3)
    return t['a'] / t['b']

def bench(n, c, s, classes=10):
    torch.manual_seed(0)
    x, y = torch.randn(n, c, s, s), torch.randint(0, classes, (n,))
    pred = torch.randn(n, classes, requires_grad=True)
    rows = []
    # extra loss work: both sides include one loss call; the plain loss is the same small constant for both
    rows.append(('MixUp vs fastai MixUp (elem λ, randperm)',
                 ratio(batch_fn(MixUp(), x, y, pred, True), batch_fn(FMixUp(), x, y, pred, False), x), '<= 1.0'))
    rows.append(('CutMix vs fastai CutMix (one box, randperm)',
                 ratio(batch_fn(CutMix(), x, y, pred, True), batch_fn(FCutMix(), x, y, pred, False), x), '<= 1.0'))
    rows.append(('MixUp before_batch vs floor lerp(x, x[perm], λ)',
                 ratio(mix_only_fn(MixUp(), y), floor_fn(n), x), '<= 1.5'))
    for mode in ('batch', 'pair', 'elem'):
        kw = dict(mode=mode, partner='flip', labels='onehot')
        pairs = {
            'MixUp':    (TimmMixup(mixup_alpha=.4, cutmix_alpha=0., mode=mode, label_smoothing=0., num_classes=classes),
                         MixUp(alpha=.4, max_lam=False, **kw)),
            'CutMix':   (TimmMixup(mixup_alpha=0., cutmix_alpha=1., mode=mode, label_smoothing=0., num_classes=classes),
                         CutMix(**kw)),
            'CutMixUp': (TimmMixup(mixup_alpha=.8, cutmix_alpha=1., switch_prob=.5, mode=mode, label_smoothing=0., num_classes=classes),
                         CutMixUp(**kw))}
        for name, (tm, ours) in pairs.items():
            target = f">= {4 if s == 64 else 8}x faster" if mode == 'elem' and name != 'MixUp' else '<= 1.0'
            rows.append((f'{name} vs timm Mixup, mode={mode}', ratio(onehot_fn(ours, y), timm_fn(tm, y), x), target))
    return rows

if __name__ == '__main__':
    print(__doc__.split('\n')[0])
    print(f"torch threads: {torch.get_num_threads()}")
    for n, c, s in [(128, 3, 64), (512, 3, 32)]:
        print(f"\nbatch {n}x{c}x{s}x{s}")
        for name, r, target in bench(n, c, s):
            speed = f"  ({1/r:.1f}x faster)" if r < 1 else ""
            print(f"  {name:<50} ratio {r:6.3f}{speed:<18} target {target}")
