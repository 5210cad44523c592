"""The ladder's wall time on the embedded digits (`make bench`): 1 worker against 2 local worker processes, in one run.

Every recipe trains over 3 seeds (the default); the trials run in a local process pool (one torch thread per worker).
Target: 2 workers at least 1.6x faster than 1 on a 2-core machine. The same seeds give the same verdicts either way."""
import time, warnings
warnings.filterwarnings('ignore')
import matplotlib; matplotlib.use('Agg')
from fastai_remedies.trials import embedded
from fastai_remedies.ladder import RemedyLadder

if __name__ == '__main__':
    print(__doc__.split('\n')[0])
    walls, tables = {}, {}
    for w in (1, 2):
        start = time.perf_counter()
        res = RemedyLadder(embedded('digits'), epochs=20, workers=w, quiet=True).run()
        walls[w], tables[w] = time.perf_counter() - start, res.table
        print(f"  {w} worker{'s' if w > 1 else ''}: wall time {walls[w]:.1f} s, {int(res.table.n.sum())} trials, "
              f"final recipe: {res.final.describe()}", flush=True)
    same = all(tables[1][c].fillna(-1).tolist() == tables[2][c].fillna(-1).tolist() for c in ('valid_loss', 'improvement', 'note'))
    print(f"  speed-up of 2 workers over 1: {walls[1]/walls[2]:.2f}x (target >= 1.6x); identical tables (valid losses, improvements, rung 1's learning-curve note): {same}")
