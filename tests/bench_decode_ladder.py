"""Issue 28's ladder acceptance (`make bench`): the PNG-folder ladder's wall time with `decode_once` against fastai's own path, and the same trial results.

The 1,797 embedded digits written as 8x8 PNG files by class folder (`tests/bench_data.py`'s `png_folder`), loaded as a new
user would (`ImageDataLoaders.from_folder`, 20% valid, bs 64, no worker processes), a small CNN (`SimpleCNN` + a linear
head, as `tests/bench_own_data.py`), the default rungs at a fixed lr (no `lr_find`), one worker (every trial in this
process). The same ladder runs twice, alternating which goes first over the rounds: once inside `fastai_pipeline()`
(decode_once off: every trial, `overfit_check` and `GapMonitor`'s honest pass read every PNG at every pass, as before
issue 28) and once as shipped (the items decoded once per process: the first trial decodes, the others reuse). The
decoded items are dropped before each decoded run, so its time includes the decoding. Times are wall-clock seconds of
`RemedyLadder(...).run()`, one torch thread; the ratio is measured within each round, and its median printed. Target:
>= 4x faster, with identical trial results (every number of the ladder's table but its seconds) for the same seeds.

`python tests/bench_decode_ladder.py [epochs] [n_seeds] [rounds]` (default 4 epochs, 2 seeds, 1 round: about 3 minutes
here). The issue's own figure (603 s before) was a 10-epoch, 3-seed ladder: `python tests/bench_decode_ladder.py 10 3`."""
import os, sys, statistics, tempfile, time, warnings
warnings.filterwarnings('ignore')
import torch
torch.set_num_threads(1)
import numpy as np, pandas as pd
from fastai.vision.all import *
from fastai_remedies.decode import fastai_pipeline, decode_memory_mb, _STORES
from fastai_remedies.ladder import RemedyLadder
sys.path.insert(0, str(Path(__file__).parent))
from bench_data import png_folder

def ladder(dls, epochs, n_seeds):
    "A `RemedyLadder` on `dls`: a small CNN, the default rungs, fixed lr, every trial in this process"
    set_seed(0)   # the ladder redraws a module's weights by shuffling its own: the same module for both runs
    model = nn.Sequential(SimpleCNN((3, 16, 32, 64)), nn.Linear(64, dls.c))
    return RemedyLadder(dls, model=model, epochs=epochs, lr=1e-2, n_seeds=n_seeds, workers=1, quiet=True)

def run(dls, epochs, n_seeds, decoded):
    "(wall seconds, the ladder's table without its timings, kept rungs) of one ladder, decode_once on or off"
    _STORES.clear()   # the decoded run pays its decoding
    start = time.perf_counter()
    if decoded: res = ladder(dls, epochs, n_seeds).run()
    else:
        with fastai_pipeline(): res = ladder(dls, epochs, n_seeds).run()
    secs = time.perf_counter() - start
    return secs, res.table.drop(columns=['seconds']), res.kept

def main(epochs=4, n_seeds=2, rounds=1):
    folder = png_folder(tempfile.mkdtemp())
    dls = ImageDataLoaders.from_folder(folder, valid_pct=0.2, seed=0, bs=64, num_workers=0)
    print(f"PNG-folder ladder: {len(dls.train_ds)} train / {len(dls.valid_ds)} valid 8x8 PNGs (ImageDataLoaders.from_folder), "
          f"SimpleCNN, default rungs, {epochs} epochs, {n_seeds} seeds, lr 1e-2, 1 worker, {rounds} round(s):", flush=True)
    ratios, same, times = [], True, {False: [], True: []}
    for r in range(rounds):
        out = {}
        for decoded in ((False, True) if r % 2 == 0 else (True, False)):
            out[decoded] = run(dls, epochs, n_seeds, decoded)
            times[decoded].append(out[decoded][0])
            print(f"  round {r}: {'decode_once' if decoded else ' fastai path'}: {out[decoded][0]:7.1f} s"
                  + (f" ({decode_memory_mb():.2f} MB decoded)" if decoded else ''), flush=True)
        (tb, ta), (b, a) = (out[False][0], out[True][0]), (out[False][1], out[True][1])
        ratios.append(tb/ta)
        ok = b.shape == a.shape and b.astype(str).equals(a.astype(str)) and out[False][2] == out[True][2]
        same &= ok
        if not ok:
            print("  the tables differ:"); print(b.compare(a) if b.shape == a.shape else (b, a))
    tb, ta = statistics.median(times[False]), statistics.median(times[True])
    print(f"  trials: {len(a)} rows, {int(a.n.fillna(0).sum())} trainings per run; kept: {'; '.join(out[True][2]) or '(nothing)'}")
    print(f"  ladder wall time: fastai path {tb:.1f} s, decode_once {ta:.1f} s; before / after {statistics.median(ratios):.1f}x "
          f"(target >= 4); identical trial results (every number but seconds, same seeds): {same}", flush=True)
    return same

if __name__ == '__main__':
    ok = main(*[int(a) for a in sys.argv[1:]])
    sys.exit(0 if ok else 1)
