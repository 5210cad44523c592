"""Issue 25: do partial-epoch results predict the final order of a rung's candidates? (the condition for successive halving)

Successive halving over epochs would stop a candidate's trial part-way through its one-cycle schedule when its valid loss
is already far behind, and spend the epochs saved on the close calls. That is only sound when what a trial shows after a
fraction f of its epochs ranks the candidates as their last epoch does. This bench measures it, in one run: the ladder
at 20 epochs with 3 seeds for every recipe (no racing, so every candidate has every seed's whole curve) on the three
embedded sets and on user-style data (`tests/bench_own_data.py`'s tables and PNG folder, built with fastai's own
`from_df`/`from_folder`, the default learner at `lr_find`'s valley). For every candidate of every rung it takes the paired
relative improvement over its incumbent (as the keep rule measures it: incumbent minus candidate valid loss, over the
mean |loss|, averaged over the seeds) after epoch ceil(f*20) and after the last epoch, and prints per data set and f:

  rho       Spearman rank correlation, over the candidates, of the improvement at f and at the end
  flips     candidates whose sign of improvement at f differs from the final one
  lost      rungs (with >= 2 candidates) whose final best candidate is in the lower half at f: halving would drop it
  lost_kept candidates the ladder kept that halving at f would have dropped

    python tests/bench_halving.py [embedded...] [--own NAME ...] [--epochs 20]

The trials' per-epoch valid losses come from `Trials.compare`'s rows, which this script records by wrapping the method
in this process only (it measures; it changes nothing the ladder decides).
"""
import argparse, math, sys, time, warnings
from pathlib import Path
warnings.filterwarnings('ignore')
import matplotlib; matplotlib.use('Agg')
import numpy as np
from scipy.stats import spearmanr
from fastai_remedies import trials as T
from fastai_remedies.cli import _ladder_for

FRACS = (0.25, 0.5, 0.75)
FIXED = dict(n_seeds=3, max_seeds=3)
_compare, RECORDED = T.Trials.compare, []
def _recording_compare(self, incumbent, candidates, *args, **kwargs):
    rows = _compare(self, incumbent, candidates, *args, **kwargs)
    RECORDED.append(rows)
    return rows

def improvement(row, k):
    "Mean over seeds of the paired relative improvement of the candidate over its incumbent after epoch index `k`"
    inc = np.array([r['valid_losses'][k] for r in row['incumbent']], float)
    cand = np.array([r['valid_losses'][k] for r in row['results']], float)
    return float(np.mean((inc - cand) / (np.abs(np.concatenate([inc, cand])).mean() + 1e-12)))

def measure(name, rungs, epochs):
    "Print one line per fraction for the compare rows `rungs` (a list of lists of rows) of data set `name`"
    rungs = [[r for r in rows if len(r['results']) and len(r['results'][0]['valid_losses']) == epochs] for rows in rungs]
    rungs = [rows for rows in rungs if rows]
    final = [[improvement(r, epochs - 1) for r in rows] for rows in rungs]
    n = sum(map(len, rungs))
    for f in FRACS:
        k = math.ceil(f * epochs) - 1
        part = [[improvement(r, k) for r in rows] for rows in rungs]
        x, y = sum(part, []), sum(final, [])
        rho = spearmanr(x, y).statistic if n > 2 else float('nan')
        flips = sum(np.sign(a) != np.sign(b) for a, b in zip(x, y))
        lost = lost_kept = multi = 0
        for rows, p, fi in zip(rungs, part, final):
            if len(rows) < 2: continue
            multi += 1
            dropped = set(np.argsort(p)[:len(p) // 2])   # halving: the lower half at f leaves
            lost += int(np.argmax(fi)) in dropped
            lost_kept += sum(bool(rows[i].get('kept')) for i in dropped)
        print(f"  {name:>22} f={f:.2f} (epoch {k + 1:2d}/{epochs}): rho {rho:+.2f} over {n} candidates; sign flips {flips}/{n}; "
              f"halving loses the final best in {lost}/{multi} rungs, a kept candidate {lost_kept} time(s)", flush=True)

def run_embedded(data, epochs, seed=0):
    RECORDED.clear()
    t = time.perf_counter()
    res = _ladder_for(data, seed, epochs, None, split_seed=seed, quiet=True, **FIXED).run()
    print(f"  {data}: ladder {time.perf_counter() - t:.0f} s, final recipe {res.final.describe()}", flush=True)
    return list(RECORDED)

def run_own(name, epochs):
    sys.path.insert(0, str(Path(__file__).parent))
    import bench_own_data as own
    from fastai.torch_core import set_seed
    from fastai_remedies.lr import lr_suggestions
    RECORDED.clear()
    t = time.perf_counter()
    set_seed(0)
    learn, test, kind = own.DATA[name]()
    lr = lr_suggestions(learn)['valley']
    res = learn.remedy_ladder(epochs=epochs, lr=lr, quiet=True, workers=1, **FIXED)
    print(f"  {name} ({kind}): ladder {time.perf_counter() - t:.0f} s, final recipe {res.final.describe()}", flush=True)
    return list(RECORDED)

if __name__ == '__main__':
    p = argparse.ArgumentParser()
    p.add_argument('data', nargs='*', default=['wine', 'breast_cancer', 'digits'])
    p.add_argument('--own', nargs='*', default=['diabetes', 'digits PNGs'])
    p.add_argument('--epochs', type=int, default=20)
    a = p.parse_args()
    print(__doc__.split('\n')[0], flush=True)
    T.Trials.compare = _recording_compare
    try:
        for d in a.data: measure(d, run_embedded(d, a.epochs), a.epochs)
        for d in a.own: measure(d, run_own(d, a.epochs), a.epochs)
    finally: T.Trials.compare = _compare
