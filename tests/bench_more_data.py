"""Cost of `data_value` (`make bench`): a learning curve with the defaults against one full training per seed.

Digits with 1,200 training items (500 validation), the plain baseline MLP, data_value's defaults: 10 epochs of
`fit_one_cycle`, fractions 1/8, 1/4, 1/2, 1 and 3 seeds. Two ratios, measured in one run:
  * inside data_value: all its fits over its full-size fits (the 1/8..1/2 subsets cost 0.875× more)      target <= ~2x
  * against what a user runs instead: data_value's time per seed over one plain full training
    (`baseline_learner(dls).fit_one_cycle`, no GapMonitor, same DataLoaders), median of 3             target <= ~2x
The learning curve validates every epoch of every fit and measures the honest gap (GapMonitor); `CachedDL` makes the
validation batches once for all its fits."""
import inspect, statistics, time, warnings
warnings.filterwarnings('ignore')
import torch
from fastai.basics import *
from fastai_remedies.core import quiet
from fastai_remedies.data import digits_dls, baseline_learner
from fastai_remedies.more_data import data_value

def main(epochs=inspect.signature(data_value).parameters['epochs'].default, n_seeds=3):
    torch.set_num_threads(1)
    dls = digits_dls(n_train=1200, n_valid=500)
    plain = []
    for s in range(3):
        set_seed(s)
        learn = baseline_learner(dls, lr=1e-2)
        t = time.perf_counter()
        with quiet(learn): learn.fit_one_cycle(epochs)
        plain.append(time.perf_counter() - t)
    t = time.perf_counter()
    dv = data_value(lambda d: baseline_learner(d, lr=1e-2), dls, n_seeds=n_seeds, epochs=epochs)
    total = time.perf_counter() - t
    print(f"data_value on digits (1,200 training items), {n_seeds} seeds x {epochs} epochs: {total:.1f} s in all "
          f"(curve fitting and bootstrap included)")
    print(f"  all fits / full-size fits inside data_value:            {dv.cost_ratio:.2f}x   (target <= ~2x)")
    print(f"  per seed / one plain full training ({statistics.median(plain):.2f} s):  "
          f"{total/n_seeds/statistics.median(plain):.2f}x   (target <= ~2x)")
    fits = float(dv.runs.secs.sum())
    print(f"    of which training (every epoch validated, honest gap measured): {fits:.1f} s, {fits/n_seeds/statistics.median(plain):.2f}x "
          f"a plain training per seed; curve fits and bootstrap (a fixed cost, whatever the training's length): {total - fits:.1f} s")

if __name__ == '__main__': main()
