"""Training-step time with `ManifoldMixup` against the same Learner without it (`make bench`): the small digits CNN and
breast_cancer's tabular model, CPU, float32, one torch thread.

A step is a whole training batch as fastai runs it once the batch is loaded (every callback, the forward with the mixing
hook, the mixed loss, backward, optimiser step, `after_batch`), averaged over an epoch; data loading (the same for both)
and validation are not timed. The two Learners train interleaved epoch by epoch in the same run; the ratio is the median of the
per-round ratios of their per-step times. Target: <= 1.10. `tools/gpu_check.py` runs the same cases on CUDA (`cases`),
each step timed with CUDA events."""
import statistics, warnings
warnings.filterwarnings('ignore')
import torch, torch.nn as nn
from fastai.basics import Learner, Callback, accuracy, set_seed
from fastai.tabular.all import tabular_learner
from fastai_remedies.data import digits_dls, tabular_dls
from fastai_remedies.manifold import ManifoldMixup
from bench_harness import Clock

class StepStart(Callback):
    "Start of each training batch, before every other callback"
    order = -1000
    def before_batch(self):
        if self.training: self.learn.step_end.clock.start()

class StepEnd(Callback):
    "Seconds per training step of each epoch: from the batch in hand to the end of every callback's `after_batch`"
    order = 1000
    def __init__(self): self.times, self.clock = [], None
    def before_fit(self): self.clock = Clock(next(self.learn.model.parameters()).device)
    def before_train(self): self.tot, self.n = 0., 0
    def after_batch(self):
        if self.training: self.tot += self.clock.stop(); self.n += 1
    def after_train(self): self.times.append(self.tot / max(self.n, 1))

def small_cnn(c=10, w=32):
    return nn.Sequential(nn.Conv2d(1, w, 3, padding=1), nn.ReLU(), nn.Conv2d(w, 2*w, 3, padding=1, stride=2), nn.ReLU(),
                         nn.Conv2d(2*w, 2*w, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(2*w*16, c))

def ratio(make, rounds=21):
    "Median over interleaved rounds of (step time with ManifoldMixup) / (step time without)"
    set_seed(0)
    plain, mixed = make(), make()
    mixed.add_cb(ManifoldMixup())
    clocks = []
    for learn in (plain, mixed):
        clocks.append(StepEnd()); learn.add_cbs([StepStart(), clocks[-1]])
    with plain.no_bar(), plain.no_logging(), mixed.no_bar(), mixed.no_logging():
        for learn in (plain, mixed): learn.fit(1, 1e-3)   # warm up
        for c in clocks: c.times.clear()
        for r in range(rounds):
            for learn in ((plain, mixed) if r % 2 == 0 else (mixed, plain)): learn.fit(1, 1e-3)
    a, b = clocks[1].times, clocks[0].times
    return statistics.median(x / y for x, y in zip(a, b)), statistics.median(b), statistics.median(a)

def cases(n_train=1000, bs=64):
    "{name: function making the Learner} of both cases (on fastai's default device)"
    dig = digits_dls(n_train=n_train, n_valid=64, bs=bs)
    tab = tabular_dls('breast_cancer', bs=bs)
    return {f'digits CNN ({n_train:,} images, bs {bs})': lambda: Learner(dig, small_cnn(), metrics=accuracy),
            f'breast_cancer tabular_learner ({len(tab.train_ds)} rows, bs {bs})': lambda: tabular_learner(tab, layers=[200, 100], metrics=accuracy)}

if __name__ == '__main__':
    torch.set_num_threads(1)
    print(__doc__.split('\n')[0])
    print(f"torch threads: {torch.get_num_threads()}")
    for name, make in cases().items():
        r, t0, t1 = ratio(make)
        print(f"  {name:<50} step {t0*1e3:6.2f} ms -> {t1*1e3:6.2f} ms   ratio {r:5.3f}   target <= 1.10")
