"""GapMonitor overhead benchmark (`make bench`): training time with / without GapMonitor, as ratios measured in one run.

Digits with 1,000 training items (and 500 validation items), the plain baseline MLP. Two cases:
  * the default GapMonitor (honest subset = the whole 1,000-item training set)   target <= 1.15x
  * a training set 10x the subset (n_items=100)                                   target <= 1.05x
Each round runs one 5-epoch fit of every configuration, in a shuffled order, since the machine is shared and noisy; a
round's ratio is the configuration's fit time over the baseline's fit time in that round, and the figure printed is the
median over rounds. Fit times include everything GapMonitor does. Its first fit also pays one uncached pass over the
subset (printed separately); later fits on the same DataLoaders reuse the cached batches. `tools/gpu_check.py` runs the
same measurement on CUDA with a small CNN (`measure(..., model=small_cnn)`), epochs timed with CUDA events."""
import random, statistics, warnings
warnings.filterwarnings('ignore')
from fastai.basics import *
from fastai_remedies.data import digits_dls, baseline_learner
from fastai_remedies.gap import GapMonitor
from bench_harness import Clock

class EpochTimer(Callback):
    "Seconds of every epoch (on the model's device: CUDA events there)"
    order = 100
    def before_fit(self): self.times, self.clock = [], Clock(next(self.learn.model.parameters()).device)
    def before_epoch(self): self.clock.start()
    def after_epoch(self): self.times.append(self.clock.stop())

def make(cbs, model=None, n_train=1000, n_valid=500):
    set_seed(0)
    dls = digits_dls(n_train=n_train, n_valid=n_valid)
    if model is None: return baseline_learner(dls, cbs=cbs + [EpochTimer()])
    return Learner(dls, model(), metrics=accuracy, cbs=cbs + [EpochTimer()])

def measure(rounds=12, epochs=5, model=None, n_train=1000, n_valid=500):
    """{'ratio', 'epoch_ms', 'honest_ms', 'first'} of the baseline and both GapMonitor configurations (`model`: a function
    returning the model, None: the plain baseline MLP)"""
    cases = dict(baseline=[], default=[GapMonitor()], subset_100=[GapMonitor(n_items=min(100, n_train))])
    learners = {k: make(cbs, model, n_train, n_valid) for k, cbs in cases.items()}
    times = {k: [] for k in cases}
    first = {}
    for r in range(rounds + 1):
        order = list(learners); random.Random(r).shuffle(order)
        for k in order:
            l = learners[k]
            with l.no_bar(), l.no_logging(): l.fit(epochs, 1e-3)
            if r == 0: first[k] = sum(l.epoch_timer.times)  # round 0 also warms up
            else: times[k].append(l.epoch_timer.times)
    ratio = {k: statistics.median(sum(a)/sum(b) for a, b in zip(times[k], times['baseline'])) for k in times}
    med = {k: statistics.median([t for fit in v for t in fit]) for k, v in times.items()}
    honest = {k: statistics.median([r['honest_secs'] for r in learners[k].gap_monitor.rows]) for k in ('default', 'subset_100')}
    first = {k: first[k] / first['baseline'] for k in first}
    return dict(ratio=ratio, epoch_ms={k: v*1000 for k, v in med.items()}, honest_ms={k: v*1000 for k, v in honest.items()},
                first=first, honest_share={k: honest[k]/med['baseline'] for k in honest})

def main(rounds=12, epochs=5):
    m = measure(rounds, epochs)
    ratio, first = m['ratio'], m['first']
    med = {k: v/1000 for k, v in m['epoch_ms'].items()}; honest = {k: v/1000 for k, v in m['honest_ms'].items()}
    print(f"digits, 1000 train / 500 valid items, plain MLP; {rounds} fits of {epochs} epochs per configuration")
    print(f"  without GapMonitor:                 epoch {med['baseline']*1000:6.1f} ms (median)")
    for k, label, target in (('default', 'GapMonitor(), subset 1000 items:', 1.15), ('subset_100', 'GapMonitor(n_items=100), train 10x:', 1.05)):
        print(f"  {label:36s} epoch {med[k]*1000:6.1f} ms, honest pass {honest[k]*1000:5.1f} ms | "
              f"ratio {ratio[k]:.3f} (target <= {target}); the honest pass alone is {honest[k]/med['baseline']:.1%} of an epoch")
    print(f"  first fit, before any cache ({epochs} epochs): ratio {first['default']:.3f} (default), "
          f"{first['subset_100']:.3f} (n_items=100)")

if __name__ == '__main__': main()
