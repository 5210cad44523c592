"""Stability of the ladder's verdict (issue 14): the final recipe for training seeds --seed 0..4, the split seed fixed
(20 epochs, the CLI's defaults: 2 seeds raced up to 6, a split per seed drawn from the fixed pool, a held-out test split) on digits, wine and breast_cancer.
Target: the same final recipe in at least 4 of 5 runs per dataset. Prints the table of recipes per seed.
Measured 2026-12-03 at 8c43a0e and at main 69ba292: wine 5/5 (plain model), digits 5/5 (bn=True), breast_cancer 3/5 (plain
model; --seed 1 smaller model, --seed 3 bn=True): below target. At 4d7682d it was 4/5; 2d11ed6 (racing up to 3*n_seeds = 6
seeds, was 4) is what turns --seed 3 into bn=True (+85%, kept; nothing kept with at most 4 seeds).
At fece4d9 (no keep on the first 2 seeds): wine 5/5 (plain model), digits 5/5 (bn=True), breast_cancer 4/5 (plain model;
--seed 3 bn=True): target met on all three. (The ladders were run with the same settings through a shared trial cache.)"""
import collections, sys, time, warnings
warnings.filterwarnings('ignore')
import matplotlib; matplotlib.use('Agg')
from fastai_remedies.cli import _ladder_for

if __name__ == '__main__':
    datasets = sys.argv[1:] or ['wine', 'breast_cancer', 'digits']
    print(__doc__.split('\n')[0])
    for data in datasets:
        finals, t = [], time.perf_counter()
        for seed in range(5):
            res = _ladder_for(data, seed, 20, None, quiet=True).run()
            finals.append(res.final.describe())
            print(f"  {data:>13} --seed {seed}: {finals[-1]}   (valid loss {res.best['valid_loss']:.4f} ± "
                  f"{res.best['valid_loss_pm']:.4f}, test loss {res.test['test_loss']:.4f})", flush=True)
        top, n = collections.Counter(finals).most_common(1)[0]
        print(f"  {data}: the same final recipe in {n}/5 runs ({top}); target >= 4/5; {time.perf_counter()-t:.0f} s", flush=True)
