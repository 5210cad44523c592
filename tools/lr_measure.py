"""`python tools/lr_measure.py [--seeds 6] [--epochs 20] [--out tools/lr_measured.csv]`: which `lr_find` suggestion
should the ladder train at when the user gave no lr? (about 5 minutes on one core, one torch thread)

For each data set (the embedded digits with a small CNN; wine, breast_cancer and diabetes (regression) with fastai's
default `tabular_learner`; the digits as a user's table through `TabularDataLoaders.from_df`) and each seed:
`lr_suggestions` runs one `lr_find` on a fresh Learner of that seed, then the same initial weights (the seed) are
trained with `fit_one_cycle(epochs, lr)` at each suggestion (valley, steep, minimum = fastai's min/10, slide, max of
valley and steep) and at each lr of a fixed grid (1e-4 … 3e-1, half decades). One row per (data set, seed, choice):
the lr, the final valid loss and metric. `nbs/12_lr.ipynb` reads the CSV and derives its table and plot from it.
"""
from __future__ import annotations
import argparse, math, os, time, warnings
from pathlib import Path

GRID = tuple(round(10**e, 6) for e in (-4, -3.5, -3, -2.5, -2, -1.5, -1, -0.5))
CHOICES = ('valley', 'steep', 'minimum', 'slide', 'max')

def digits_table_dls(seed=42):
    "The 1,797 digits as a user's 64-column table: `TabularDataLoaders.from_df` with a random 30% validation split"
    import numpy as np, pandas as pd
    from sklearn.datasets import load_digits
    from fastai.tabular.all import TabularDataLoaders, Normalize, CategoryBlock
    d = load_digits()
    df = pd.DataFrame(d.data, columns=[f'px{i}' for i in range(64)]).assign(label=d.target.astype(str))
    valid = np.random.RandomState(seed).permutation(len(df))[:int(.3*len(df))]
    return TabularDataLoaders.from_df(df, y_names='label', cont_names=list(df.columns[:64]), procs=[Normalize],
                                      y_block=CategoryBlock(), valid_idx=list(valid), bs=64, num_workers=0)

def small_cnn():
    from fastai.basics import nn, Flatten
    from fastai.layers import ConvLayer
    return nn.Sequential(ConvLayer(1, 16, stride=2), ConvLayer(16, 32, stride=2), ConvLayer(32, 64, stride=2),
                         nn.AdaptiveAvgPool2d(1), Flatten(), nn.Linear(64, 10))

def datasets():
    "{name: (DataLoaders, learner factory)}"
    from fastai.basics import Learner, accuracy, rmse
    from fastai.tabular.all import tabular_learner
    from fastai_remedies.data import get_dls
    tab = lambda m: (lambda dls: tabular_learner(dls, metrics=m))
    return {'digits CNN': (get_dls('digits'), lambda dls: Learner(dls, small_cnn(), metrics=accuracy)),
            'wine': (get_dls('wine'), tab(accuracy)), 'breast_cancer': (get_dls('breast_cancer'), tab(accuracy)),
            'diabetes': (get_dls('diabetes'), tab(rmse)), 'digits table (from_df)': (digits_table_dls(), tab(accuracy))}

def run(seeds, epochs, names=None, choices=CHOICES, grid=GRID):
    "One row per (data set, seed, lr choice): the lr and the final valid loss and metric of `fit_one_cycle(epochs, lr)`"
    import pandas as pd, torch
    from fastai.basics import set_seed
    from fastai_remedies.core import quiet
    from fastai_remedies.lr import lr_suggestions
    torch.set_num_threads(1)
    rows = []
    for name, (dls, make) in datasets().items():
        if names and name not in names: continue
        for seed in range(seeds):
            set_seed(seed); sugg = lr_suggestions(make(dls))
            lrs = [(c, sugg[c]) for c in choices] + [(f'grid {g:g}', g) for g in grid]
            for choice, lr in lrs:
                set_seed(seed); learn = make(dls)
                t = time.perf_counter()
                with quiet(learn): learn.fit_one_cycle(epochs, lr)
                v = learn.recorder.values[-1]
                rows.append(dict(data=name, seed=seed, choice=choice, lr=lr, valid_loss=float(v[1]),
                                 metric=float(v[2]), metric_name=learn.metrics[0].name, secs=time.perf_counter()-t))
            print(f"{name} seed {seed}: " + ', '.join(f"{c}={v:.2g}" for c, v in sugg.items()), flush=True)
    return pd.DataFrame(rows)

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--seeds', type=int, default=6); p.add_argument('--epochs', type=int, default=20)
    p.add_argument('--out', default=str(Path(__file__).parent/'lr_measured.csv'))
    p.add_argument('--data', nargs='*', default=None, help='data sets to measure (default: all)')
    a = p.parse_args()
    warnings.simplefilter('ignore')
    start = time.time()
    df = run(a.seeds, a.epochs, a.data)
    df.assign(epochs=a.epochs).to_csv(a.out, index=False)
    print(f"{len(df)} runs in {time.time()-start:.0f} s -> {a.out}")
