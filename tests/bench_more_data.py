"""Rung 1's acceptance figures (`make bench`): cost of `data_value`, its intervals on LCDB's held-out curves and on
neural-net curves measured here.

1. Cost. Digits with 1,200 training items (500 validation), the plain baseline MLP, data_value's defaults (10 epochs of
   `fit_one_cycle`, fractions 1/8, 1/4, 1/2, 1, 3 seeds, on='best'), and on='last' (validation at the end of each fit
   only): data_value's time per seed over one plain full training (`baseline_learner(dls).fit_one_cycle`, same
   DataLoaders, median of 3), all measured in this run.                                               target <= 2.5x
2. LCDB 0.1.0, datasets with an odd OpenML id (held out from the calibration), 2x projections at the 90% level:
   coverage >= 88%, answered median relative error <= 5% (loss and error rate), "cannot tell" <= 30% of the loss tasks.
   The figures ship in the calibration file (tools/calibrate_data_value.py recomputes them from LCDB).
3. Neural-net curves: wine, 21 seeds x 5 fractions (1/16 .. 1), 6 epochs: per group of 3 seeds, does the back-test's
   calibrated 90% interval cover the loss measured at the full size, and the 2x projection from half the data the loss
   measured on all of it?"""
import inspect, statistics, time, warnings
warnings.filterwarnings('ignore')
import torch
from fastai.basics import *
from fastai_remedies.core import quiet
from fastai_remedies.data import digits_dls, baseline_learner, tabular_dls
from fastai_remedies.more_data import data_value, load_calibration, seed_group_check

def cost(epochs=inspect.signature(data_value).parameters['epochs'].default, n_seeds=3):
    dls = digits_dls(n_train=1200, n_valid=500)
    plain = []
    for s in range(3):
        set_seed(s)
        learn = baseline_learner(dls, lr=1e-2)
        t = time.perf_counter()
        with quiet(learn): learn.fit_one_cycle(epochs)
        plain.append(time.perf_counter() - t)
    p = statistics.median(plain)
    print(f"1. data_value on digits (1,200 training items), {n_seeds} seeds x {epochs} epochs; one plain training: {p:.2f} s")
    for on in ('best', 'last'):
        t = time.perf_counter()
        dv = data_value(lambda d: baseline_learner(d, lr=1e-2), dls, n_seeds=n_seeds, epochs=epochs, on=on)
        total = time.perf_counter() - t
        fits = float(dv.runs.secs.sum())
        print(f"   on={on!r:7} {total:5.1f} s in all: {total/n_seeds/p:.2f}x a plain training per seed (target <= 2.5x); "
              f"training {fits/n_seeds/p:.2f}x, curve fit and verdict {total - fits:.2f} s; all fits / full-size fits {dv.cost_ratio:.2f}x")

def lcdb():
    cal = load_calibration()
    print(f"\n2. {cal['provenance']['source']}: odd-id datasets (held out), level 90%, max_backtest {cal['max_backtest']:.0%}")
    print(f"   {'curve':6} {'tasks':>6} {'cannot tell':>11} {'2x cover':>9} {'2x median':>9} {'4x cover':>9} {'4x median':>9} {'back-test cover':>15}")
    for col, r in cal['held_out'].items():
        print(f"   {col:6} {r['tasks']:6d} {r['cannot_tell']:11.1%} {r['2x']['coverage']:9.1%} {r['2x']['median_rel_error']:9.1%} "
              f"{r['4x']['coverage']:9.1%} {r['4x']['median_rel_error']:9.1%} {r['backtest_coverage']:15.1%}")
    lo = cal['held_out']['loss']
    ok = lambda b: 'met' if b else 'NOT met'
    print(f"   acceptance: 2x coverage >= 88% {ok(min(r['2x']['coverage'] for r in cal['held_out'].values()) >= 0.88)}; "
          f"median <= 5% {ok(max(r['2x']['median_rel_error'] for r in cal['held_out'].values()) <= 0.05)}; "
          f"cannot tell <= 30% of loss tasks {ok(lo['cannot_tell'] <= 0.30)}")

def neural(n_seeds=21, epochs=6):
    dv = data_value(lambda d: baseline_learner(d, lr=1e-2), tabular_dls('wine'), fracs=(1/16, 1/8, 1/4, 1/2, 1), n_seeds=n_seeds, epochs=epochs)
    c = seed_group_check(dv)
    ans = c.covered.dropna().astype(float)
    print(f"\n3. wine, {n_seeds} seeds x {epochs} epochs, {len(c)} groups of 3 seeds: back-test interval covers "
          f"{c.backtest_covered.mean():.0%}; 2x from half the data: answered {c.covered.notna().mean():.0%}, covered "
          f"{ans.mean() if len(ans) else float('nan'):.0%} of those, median relative error {c.rel_error.median():.1%}")

if __name__ == '__main__':
    torch.set_num_threads(1)
    cost(); lcdb(); neural()
