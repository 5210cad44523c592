"""The ladder's wall time on the embedded digits (`make bench`): 1 worker against 2 local worker processes, in one run.

Every recipe trains over 3 seeds (the default); the trials run in a local process pool (one torch thread per worker).
Target: 2 workers at least 1.6x faster than 1 on a 2-core machine. The same seeds give the same verdicts either way.
`tools/gpu_check.py` runs `walls` on CUDA machines: one worker per GPU, then several workers (trials) sharing each GPU."""
import time, warnings
warnings.filterwarnings('ignore')
import matplotlib; matplotlib.use('Agg')
from fastai_remedies.trials import embedded
from fastai_remedies.ladder import RemedyLadder

def walls(workers=(1, 2), data=None, quiet=False, **kwargs):
    """({workers: wall seconds}, {workers: result}) of the digits ladder (`data`: its `DataSpec`) run once per number of
    `workers`; `kwargs` go to `RemedyLadder` (default: 20 epochs)"""
    data = data or embedded('digits')
    kwargs = {'epochs': 20, **kwargs}
    walls, results = {}, {}
    for w in workers:
        start = time.perf_counter()
        res = RemedyLadder(data, workers=w, quiet=True, **kwargs).run()
        walls[w], results[w] = time.perf_counter() - start, res
        if not quiet: print(f"  {w} worker{'s' if w > 1 else ''}: wall time {walls[w]:.1f} s, {int(res.table.n.sum())} trials, "
                            f"final recipe: {res.final.describe()}", flush=True)
    return walls, results

def same_tables(a, b)->bool:
    "Whether two ladder results have the same valid losses, improvements and notes"
    return all(a.table[c].fillna(-1).tolist() == b.table[c].fillna(-1).tolist() for c in ('valid_loss', 'improvement', 'note'))

if __name__ == '__main__':
    print(__doc__.split('\n')[0])
    w, res = walls((1, 2))
    print(f"  speed-up of 2 workers over 1: {w[1]/w[2]:.2f}x (target >= 1.6x); identical tables (valid losses, improvements, rung 1's learning-curve note): {same_tables(res[1], res[2])}")
