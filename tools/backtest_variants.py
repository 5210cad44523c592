"""`python tools/backtest_variants.py [--out DIR]`: is the wine back-test of `data_value` (15_more_data, acceptance) off
because of the method or because of the data? (about 2–3 minutes on 2 cores, one torch thread)

The acceptance recipe (`baseline_learner(d, lr=1e-2)`, 20 epochs of `fit_one_cycle`, best-epoch valid loss) is trained
on nested subsets of six fractions (1/8, 3/16, 1/4, 3/8, 1/2, 1) of the training set of wine (20 seeds) and breast_cancer
(10 seeds), on the notebook's split (seed 42) and on other splits (0–3 for wine, 0–2 for breast_cancer). Since the
subsets of a seed are nested whatever sizes are asked for, the runs of any sub-list of fractions are among these runs;
each variant of the back-test — the curve fitted on the fractions below 1 predicts the full-data mean valid loss — is
then computed from them without training again:

- V0: what `data_value` does (1/8, 1/4, 1/2, 1; the notebook's seeds: 10 on wine, 5 on breast_cancer; weights ∝ n)
- V1: twice the seeds
- V2, V2b: fractions 1/4, 3/8, 1/2, 1 (the smallest subset left out), with the notebook's seeds and with twice as many
- V3: all six fractions
- V4: inverse-variance weights (each size's standard deviation over seeds) instead of weights ∝ n
- V5: fractions 3/16, 1/4, 3/8, 1/2, 1

Prints the relative error of each back-test (%) per data set and split, and the full-data valid loss it predicts;
writes the runs as CSV to `--out`.
"""
from __future__ import annotations
import argparse, os, time, warnings
from pathlib import Path

FRACS = (1/8, 3/16, 1/4, 3/8, 1/2, 1)
SETS = {'wine': ((42, 0, 1, 2, 3), 20, 10), 'breast_cancer': ((42, 0, 1, 2), 10, 5)}   # splits, seeds run, notebook's seeds

def runs_for(name, split, n_seeds):
    from fastai_remedies.data import baseline_learner, tabular_dls
    from fastai_remedies.more_data import data_value
    dv = data_value(lambda d: baseline_learner(d, lr=1e-2), tabular_dls(name, seed=split), fracs=FRACS, n_seeds=n_seeds,
                    epochs=20)
    return dv.runs

def backtest(runs, fracs, seeds, weight='n'):
    "Relative error of the loss curve fitted on `fracs` < 1 at the full size, over `seeds`"
    import numpy as np
    from scipy.optimize import curve_fit
    from fastai_remedies.more_data import fit_curve, learning_curve
    r = runs[runs.frac.round(6).isin([round(f, 6) for f in fracs]) & runs.seed.isin(seeds)]
    N = r.n.max()
    small, meas = r[r.n < N], r[r.n == N].loss.mean()
    if weight == 'n': p = fit_curve(small.n, small.loss, N)
    else:
        x, y, sd = small.n.values/N, small.loss.values, small.groupby('n').loss.transform('std').values
        p0 = (max(y[x == x.min()].mean() - y[x == x.max()].mean(), 1e-6)*x.min()**0.5, 0.5, max(y[x == x.max()].mean()/2, 0.))
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            try: p, _ = curve_fit(learning_curve, x, y, p0=p0, sigma=sd, bounds=([0, 0.02, 0], [np.inf, 3., np.inf]), maxfev=20000)
            except RuntimeError: p = p0
    return abs(learning_curve(1., *p) - meas)/meas, meas

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--out', default='backtest_variants_out', help='folder for the runs (CSV)')
    args = ap.parse_args()
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    import pandas as pd, torch
    torch.set_num_threads(1)
    warnings.filterwarnings('ignore')
    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
    rows, full = [], []
    for name, (splits, n_seeds, k) in SETS.items():
        for split in splits:
            t = time.perf_counter()
            runs = runs_for(name, split, n_seeds)
            runs.to_csv(out/f'{name}_{split}.csv', index=False)
            S = sorted(runs.seed.unique())
            variants = {'V0 1/8,1/4,1/2,1': ((1/8, 1/4, 1/2, 1), S[:k], 'n'), 'V1 same, 2x seeds': ((1/8, 1/4, 1/2, 1), S[:2*k], 'n'),
                        'V2 1/4,3/8,1/2,1': ((1/4, 3/8, 1/2, 1), S[:k], 'n'), 'V2b same, 2x seeds': ((1/4, 3/8, 1/2, 1), S[:2*k], 'n'),
                        'V3 six fractions': (FRACS, S[:k], 'n'), 'V4 inverse-variance': ((1/8, 1/4, 1/2, 1), S[:k], 'var'),
                        'V5 3/16..1/2,1': ((3/16, 1/4, 3/8, 1/2, 1), S[:k], 'n')}
            for v, (fr, seeds, w) in variants.items():
                err, meas = backtest(runs, fr, seeds, w)
                rows.append(dict(data=name, split=split, variant=v, rel_error=100*err))
            full.append(dict(data=name, split=split, full_loss=meas, secs=time.perf_counter() - t))
            print(f"{name} split {split}: {time.perf_counter() - t:.0f} s", flush=True)
    pd.set_option('display.width', 300); pd.set_option('display.max_columns', 30)
    print("\nrelative error of the back-test (%), per data set and split:")
    print(pd.DataFrame(rows).pivot_table(index='variant', columns=['data', 'split'], values='rel_error').round(1))
    print("\nfull-data mean valid loss (the value predicted):")
    print(pd.DataFrame(full).set_index(['data', 'split']).full_loss.round(4).unstack(0))

if __name__ == '__main__': main()
