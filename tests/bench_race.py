"""Issue 25: what the raced ladder, a split per seed, spends and decides, against the fixed-3-seed ladder on one split.

For each dataset and s = 0..4 (20 epochs, the CLI's defaults: embedded data with a held-out test split), the ladder runs
with --seed s --split-seed s (the split moved too) twice, in this one process and one run:
  raced:  the default — 2 seeds to start, raced 2 at a time up to 6, every seed with its own split (`resplit`)
  fixed:  the ladder before — 3 seeds for every recipe, one split (n_seeds=3, max_seeds=3, resplit=False)
It prints each run's final recipe, trainings, training time as a multiple of one baseline training, and at the end per
dataset: how often the final recipe is the modal one (target >= 4/5), how often raced and fixed agree, and the cost ratio.

    python tests/bench_race.py [dataset ...] [--modes raced fixed] [--seeds 0 1 2 3 4] [--epochs 20] [--workers N]

Measured 2026-12-03 at fece4d9 (no keep on the first 2 seeds), raced mode, the split moved: wine 5/5 (plain model),
digits 4/5 (bn=True; --seed 4 kept nothing), breast_cancer 3/5 (plain model; --seed 2 and 3 keep bn=True): target not
met on breast_cancer, where BatchNorm's effect is at the edge of what 6 seeds resolve.

`--folder` instead: a user-style image folder (the 1,797 digits as PNG files by class folder, `ImageDataLoaders.from_folder`
with 20% valid, a SimpleCNN, 10 epochs, lr 1e-2): raced and fixed, each with 1 and 2 workers (wall time).
"""
import argparse, collections, math, sys, tempfile, time, warnings
from pathlib import Path
warnings.filterwarnings('ignore')
import matplotlib; matplotlib.use('Agg')
from fastai_remedies.cli import _ladder_for

MODES = {'raced': dict(n_seeds=2, max_seeds=6, resplit=None), 'fixed': dict(n_seeds=3, max_seeds=3, resplit=False)}

def one(data, s, mode, epochs, workers):
    t = time.perf_counter()
    res = _ladder_for(data, s, epochs, None, split_seed=s, quiet=True, workers=workers, **MODES[mode]).run()
    c = res.cost
    return dict(final=res.final.describe(), trainings=c['trainings'], epochs=c['epochs'], multiple=c['baseline_trainings'],
                training=c['training_seconds'], wall=time.perf_counter() - t, resplit=res.ladder.resplit,
                test=res.test_verdict.split('—')[-1].strip() if res.test else '')

def folder(epochs):
    from fastai.vision.all import ImageDataLoaders, SimpleCNN, nn, set_seed
    from fastai_remedies.ladder import RemedyLadder
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_data import png_folder
    dls = ImageDataLoaders.from_folder(png_folder(tempfile.mkdtemp()), valid_pct=0.2, seed=0, bs=64, num_workers=0)
    print(f"  image folder: {len(dls.train_ds)} train / {len(dls.valid_ds)} valid PNGs, SimpleCNN, {epochs} epochs", flush=True)
    out = {}
    for mode in MODES:
        for w in (1, 2):
            set_seed(0)
            model = nn.Sequential(SimpleCNN((3, 16, 32, 64)), nn.Linear(64, dls.c))
            t = time.perf_counter()
            res = RemedyLadder(dls, model=model, epochs=epochs, lr=1e-2, workers=w, quiet=True, **MODES[mode]).run()
            c, wall = res.cost, time.perf_counter() - t
            out[mode, w] = res.final.describe()
            print(f"  image folder {mode:>5}, {w} worker(s): {res.final.describe():<30} {c['trainings']} trainings "
                  f"({c['epochs']} epochs), {c['baseline_trainings']:.1f}x one baseline training, wall {wall:.0f} s", flush=True)
    print(f"  image folder: raced and fixed give the same final recipe: {out['raced', 1] == out['fixed', 1]}", flush=True)

if __name__ == '__main__':
    p = argparse.ArgumentParser()
    p.add_argument('data', nargs='*', default=['wine', 'breast_cancer', 'digits'])
    p.add_argument('--modes', nargs='+', default=list(MODES), choices=list(MODES))
    p.add_argument('--seeds', nargs='+', type=int, default=list(range(5)))
    p.add_argument('--epochs', type=int, default=20)
    p.add_argument('--workers', type=int, default=None)
    p.add_argument('--folder', action='store_true')
    a = p.parse_args()
    print(__doc__.split('\n')[0], flush=True)
    if a.folder: folder(10 if a.epochs == 20 else a.epochs); sys.exit()
    for data in a.data:
        runs = collections.defaultdict(list)
        for s in a.seeds:
            for mode in a.modes:
                r = one(data, s, mode, a.epochs, a.workers)
                runs[mode].append(r)
                print(f"  {data:>13} s={s} {mode:>5}: {r['final']:<40} {r['trainings']:3d} trainings ({r['epochs']} epochs), "
                      f"{r['multiple']:5.1f}x one baseline training, wall {r['wall']:5.0f} s; test: {r['test']}", flush=True)
        for mode, rs in runs.items():
            top, n = collections.Counter(r['final'] for r in rs).most_common(1)[0]
            print(f"  {data} {mode}: the same final recipe in {n}/{len(rs)} runs ({top}); target >= 4/5; mean "
                  f"{sum(r['trainings'] for r in rs)/len(rs):.1f} trainings, {sum(r['multiple'] for r in rs)/len(rs):.1f}x one "
                  f"baseline training, wall {sum(r['wall'] for r in rs):.0f} s in all", flush=True)
        if len(runs) == 2:
            same = sum(x['final'] == y['final'] for x, y in zip(runs['raced'], runs['fixed']))
            ratio = sum(r['training'] for r in runs['raced']) / sum(r['training'] for r in runs['fixed'])
            print(f"  {data}: raced and fixed give the same final recipe in {same}/{len(runs['raced'])} runs; raced / fixed "
                  f"training time {ratio:.2f}", flush=True)
