"""Per-batch cost of input-level mixing (`make bench`): fastai_remedies' MixUp / CutMix / CutMixUp against fastai's
MixUp / CutMix, timm's `Mixup` in the same mode, and the floor `torch.lerp(x, x[perm], λ)`. CPU, float32 (`tools/gpu_check.py`
runs `bench` on CUDA in fp16, timed with CUDA events).

Cost of one batch = the callback's `before_batch` work plus the Learner's loss call under mixing (vs fastai), or the
`before_batch` work alone (vs the floor, which gets its permutation and λ for free); for timm (which makes soft targets, so the loss is the plain one) and
ours with labels='onehot' it is the mixing call alone. Every ratio compares two methods measured interleaved in the
same run on fresh copies of the batch: median of per-batch times over 31 rounds. Ratios < 1 mean ours is faster."""
import warnings
warnings.filterwarnings('ignore')
import torch, torch.nn as nn
from bench_harness import Clock, ratio as _ratio, meets
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

def floor_fn(n, device='cpu', dtype=torch.float32):
    perm, lam = torch.randperm(n, device=device), torch.rand(n, device=device).view(n, 1, 1, 1).to(dtype)
    return lambda xc: torch.lerp(xc, xc[perm], lam)

def bench(n, c, s, classes=10, device='cpu', dtype=torch.float32, rounds=31, elem_target=None, only=None):
    """(name, ratio, target, error) of every comparison on a batch of `n` images `c`x`s`x`s` of `dtype` on `device`:
    `elem_target` replaces the elem-mode targets against timm (None: this CPU benchmark's own); `only(name)` picks the
    comparisons to run; one that raises (e.g. fastai's MixUp on a float16 batch) has ratio None and the error's text"""
    torch.manual_seed(0)
    x, y = torch.randn(n, c, s, s, device=device).to(dtype), torch.randint(0, classes, (n,), device=device)
    pred = torch.randn(n, classes, device=device, requires_grad=True)   # the loss sees float predictions (MixedPrecision's `to_float`)
    rows, clock = [], Clock(device)
    def add(name, a, b, target):
        if only is not None and not only(name): return
        try: rows.append((name, _ratio(a(), b(), x, rounds=rounds, clock=clock), target, None))
        except Exception as e: rows.append((name, None, target, f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"))
    # extra loss work: both sides include one loss call; the plain loss is the same small constant for both
    add('MixUp vs fastai MixUp (elem λ, randperm)',
        lambda: batch_fn(MixUp(), x, y, pred, True), lambda: batch_fn(FMixUp(), x, y, pred, False), '<= 1.0')
    add('CutMix vs fastai CutMix (one box, randperm)',
        lambda: batch_fn(CutMix(), x, y, pred, True), lambda: batch_fn(FCutMix(), x, y, pred, False), '<= 1.0')
    add('MixUp before_batch vs floor lerp(x, x[perm], λ)', lambda: mix_only_fn(MixUp(), y), lambda: floor_fn(n, device, dtype), '<= 1.5')
    for mode in ('batch', 'pair', 'elem'):
        kw = dict(mode=mode, partner='flip', labels='onehot')
        pairs = {
            'MixUp':    (lambda: TimmMixup(mixup_alpha=.4, cutmix_alpha=0., mode=mode, label_smoothing=0., num_classes=classes),
                         lambda: MixUp(alpha=.4, max_lam=False, **kw)),
            'CutMix':   (lambda: TimmMixup(mixup_alpha=0., cutmix_alpha=1., mode=mode, label_smoothing=0., num_classes=classes),
                         lambda: CutMix(**kw)),
            'CutMixUp': (lambda: TimmMixup(mixup_alpha=.8, cutmix_alpha=1., switch_prob=.5, mode=mode, label_smoothing=0., num_classes=classes),
                         lambda: CutMixUp(**kw))}
        for name, (tm, ours) in pairs.items():
            target = f">= {4 if s == 64 else 8}x faster" if mode == 'elem' and name != 'MixUp' else '<= 1.0'
            if mode == 'elem' and elem_target is not None: target = elem_target
            add(f'{name} vs timm Mixup, mode={mode}', lambda: onehot_fn(ours(), y), lambda: timm_fn(tm(), y), target)
    return rows

if __name__ == '__main__':
    print(__doc__.split('\n')[0])
    print(f"torch threads: {torch.get_num_threads()}")
    for n, c, s in [(128, 3, 64), (512, 3, 32)]:
        print(f"\nbatch {n}x{c}x{s}x{s}")
        for name, r, target, err in bench(n, c, s):
            if err: print(f"  {name:<50} failed: {err}"); continue
            speed = f"  ({1/r:.1f}x faster)" if r < 1 else ""
            print(f"  {name:<50} ratio {r:6.3f}{speed:<18} target {target}{'' if meets(r, target) else '  (missed)'}")
