"""`python tools/data_value_weights.py [--lcdb PATH]`: does weighting the learning-curve fit by inverse seed variance
(1/σ² with σ each size's standard deviation over seeds) instead of ∝ n help `data_value` on LCDB 0.1.0? (issue 27)

Same tasks as tools/calibrate_data_value.py (outer seed 0, inner seeds 0–2, sizes N/8 … N, truth at 2N), for N = 256
and 512, all datasets: for each weighting, the share of 'cannot tell' at a back-test threshold of 15% and 30%, the
answered median and 90th-percentile relative error of the 2× projection, and the 90th percentile over all tasks.
About 10 minutes on one core. Recorded run (in 15_more_data): inverse-variance weights did not help."""
import argparse, sys, warnings
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

def weights(x, y, kind):
    import numpy as np, pandas as pd
    if kind == 'n': return x
    sd = pd.Series(y).groupby(x).transform('std').values
    return 1/np.maximum(sd, 0.01*np.abs(y).mean() + 1e-12)**2   # a floor: a size whose seeds agree exactly gets no infinite weight

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--lcdb', help='LCDB sdist (.tar.gz) or unpacked folder (default: as tools/calibrate_data_value.py)')
    args = ap.parse_args()
    warnings.filterwarnings('ignore')
    import numpy as np, pandas as pd
    from calibrate_data_value import lcdb_source, read_lcdb, COLS
    from fastai_remedies.more_data import fit_curve, learning_curve
    src, rows = lcdb_source(args.lcdb), []
    for col, metric in COLS.items():
        df, _ = read_lcdb(src, metric)
        if col == 'error': df = df.assign(score_test=1 - df.score_test)
        wide = df.groupby(['openmlid', 'learner', 'size_train', 'inner_seed']).score_test.mean().unstack('inner_seed')
        for _, piv in wide.groupby(level=['openmlid', 'learner']):
            piv = piv.droplevel([0, 1])
            for N in (256, 512):
                if not all(s in piv.index for s in (N//8, N//4, N//2, N, 2*N)): continue
                sub = piv.loc[[N//8, N//4, N//2, N]]
                if not np.isfinite(sub.values).all() or not np.isfinite(piv.loc[2*N].values).all(): continue
                x, y, t2 = np.repeat(sub.index.values, sub.shape[1])/N, sub.values.ravel(), piv.loc[2*N].mean()
                for kind in ('n', 'iv'):
                    p, s = fit_curve(x, y, 1., weights(x, y, kind)), x < 1
                    pb, meas = fit_curve(x[s], y[s], 1., weights(x[s], y[s], kind)), y[x == 1].mean()
                    rows.append(dict(curve=col, w=kind, bt=abs(learning_curve(1, *pb) - meas)/abs(meas),
                                     e2=abs(learning_curve(2, *p) - t2)/abs(learning_curve(2, *p))))
    r = pd.DataFrame(rows)
    for (c, w), d in r.groupby(['curve', 'w']):
        for th in (0.15, 0.3):
            a = d[d.bt <= th]
            print(f"{c:5} weights {'1/var' if w == 'iv' else '∝ n':5} max_backtest {th:.2f}: cannot tell {1 - len(a)/len(d):.1%}, answered "
                  f"median {a.e2.median():.2%}, p90 {a.e2.quantile(.9):.1%}; p90 over all {len(d)} tasks {d.e2.quantile(.9):.1%}")

if __name__ == '__main__': main()
