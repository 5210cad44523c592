"""Issue 28 (`make bench`): how a trial's worker process gets the decoded items — measured, for a user-style PNG folder and a DataFrame.

The parent builds the user's `DataLoaders` (`ImageDataLoaders.from_folder` of the 1,797 embedded digits written as PNGs,
upscaled to 64x64 so that the decoded items weigh ~22 MB; `TabularDataLoaders.from_df` of a 50,000-row synthetic table,
10 categorical + 100 continuous columns, ~25 MB decoded), then starts a worker process (forked, as `local_pool` does on
CPU) that does what `run_trial` does: unpickle the `DataLoaders` it is sent, `decode_once` them, train. Options:
  (a) fork:   the parent decodes before the worker forks; the worker finds the items in the store it inherited (copy-on-write);
  (b) own:    the parent has decoded nothing; the worker decodes itself (what a spawned GPU worker or a Dask worker does);
  (c) shm:    the parent's decoded tensors moved to torch shared memory (`share_memory_()`), sent through a pipe
              (torch's reductions pass a file descriptor), the worker starting with an empty store as a spawned worker would;
  (d) mmap:   the parent's store saved once (`torch.save`), the worker loads it with `torch.load(mmap=True)`, starting empty too.
Per option, measured from the moment the worker holds its copy of the `DataLoaders` (unpickled, as `run_trial` gets them:
the same in every option): the time to its first training batch (ms, including receiving or loading the store and
`decode_once`'s own checks: file stats, the table's hash), the items it decoded itself (`decoded_here`), and the extra
memory it holds (MB, from /proc/self/smaps_rollup, after the first batch and after a pass over the training and
validation loaders): USS (private pages, what each worker costs on top of the others) and PSS (its share of shared pages). The parent's own cost for (c) and (d) is
printed too. Medians of `rounds` workers per option; one torch thread. `python tests/bench_decode_share.py [rounds]`."""
import gc, os, sys, io, pickle, statistics, tempfile, time, warnings
warnings.filterwarnings('ignore')
import numpy as np, pandas as pd
import torch, torch.multiprocessing   # (registers torch's shared-memory reductions with multiprocessing's pickler)
torch.set_num_threads(1)
import multiprocessing as mp
from pathlib import Path
from fastai.vision.all import ImageDataLoaders, PILImage
from fastai.basics import *
from fastai_remedies import decode as D
from fastai_remedies.decode import decode_once, decode_memory_mb, decoded_here
sys.path.insert(0, str(Path(__file__).parent))
from bench_data import wide_table, _tab_dls

def mem():
    "(USS, PSS) of this process in MB"
    d = {}
    for line in open('/proc/self/smaps_rollup'):
        p = line.split()
        if len(p) >= 3 and p[0].endswith(':'): d[p[0][:-1]] = int(p[1])/1024
    return d['Private_Clean'] + d['Private_Dirty'], d['Pss']

def png_folder(path, size=64):
    "The 1,797 embedded digits as `size`x`size` RGB PNGs in `path/<label>/`"
    from PIL import Image
    from fastai_remedies.data import _digits
    imgs, y = _digits()
    for i, (im, t) in enumerate(zip(imgs, y)):
        p = Path(path)/str(t); p.mkdir(parents=True, exist_ok=True)
        a = (np.asarray(im, dtype=np.float32)*(255/max(float(np.max(im)), 1.))).astype(np.uint8)
        Image.fromarray(a).convert('RGB').resize((size, size), Image.NEAREST).save(p/f'{i}.png')
    return Path(path)

def _install(stores):
    "A worker's store: the one it was sent or loaded"
    D._STORES.clear(); D._STORES.update(stores)

def worker(option, blob, conn, path):
    "A trial's start in a worker: get the store (option), unpickle the DataLoaders, decode_once, first batch, one pass"
    dls = pickle.loads(blob)   # the data a trial is sent (`DataSpec`): the same in every option, so measured from here
    gc.collect(); m0, t0 = mem(), time.perf_counter()
    if option in ('shm', 'mmap', 'own'): D._STORES.clear()   # a worker that inherited nothing (spawned, or a Dask worker)
    if option == 'shm': _install(conn.recv())
    if option == 'mmap': _install(torch.load(path, mmap=True, weights_only=False))
    dls = decode_once(dls)   # what run_trial does
    it = iter(dls.train); next(it)
    t1, m1 = time.perf_counter(), mem()
    for _ in it: pass
    for _ in dls.valid: pass
    m2 = mem()
    conn.send(dict(first_ms=(t1-t0)*1000, decoded=decoded_here(), uss1=m1[0]-m0[0], pss1=m1[1]-m0[1], uss2=m2[0]-m0[0], pss2=m2[1]-m0[1]))
    conn.close()

def run(option, dls, path):
    "One worker, forked now, for `option`: what it measured"
    ctx = mp.get_context('fork')
    a, b = ctx.Pipe()
    blob = pickle.dumps(dls)
    p = ctx.Process(target=worker, args=(option, blob, b, path)); p.start()
    if option == 'shm': a.send(dict(D._STORES))   # shared memory handles, not the bytes
    res = a.recv(); p.join()
    return res

def bench(name, dls, rounds):
    D._STORES.clear()
    t = time.perf_counter(); dd = decode_once(dls)
    for dl in dd.loaders: dl._decoded()
    dec_s = time.perf_counter() - t
    stores, mb = dict(D._STORES), decode_memory_mb()
    t = time.perf_counter()
    for s in stores.values():
        for x in (s.stacked or ()): x.share_memory_()
    shm_s = time.perf_counter() - t
    path = Path(tempfile.mkdtemp())/'store.pt'
    t = time.perf_counter(); torch.save(stores, path); save_s = time.perf_counter() - t
    print(f"{name}: {mb:.1f} MB decoded ({dec_s:.2f} s in the parent); parent's cost: share_memory_() {shm_s*1000:.0f} ms, "
          f"torch.save {save_s*1000:.0f} ms ({path.stat().st_size/2**20:.1f} MB file)", flush=True)
    res = {o: [] for o in ('fork', 'own', 'shm', 'mmap')}
    for r in range(rounds):
        for o in res:
            if o == 'own': D._STORES.clear()   # the parent has decoded nothing
            else: _install(stores)
            res[o].append(run(o, dls, path))
    _install(stores)
    what = dict(fork="(a) fork: decoded in the parent before the fork", own="(b) own: the worker decodes itself",
                shm="(c) torch shared memory, sent by pipe", mmap="(d) torch.save + torch.load(mmap=True)")
    print(f"  {'option':48s} {'first batch':>12s} {'decoded':>8s} {'USS +MB':>8s} {'PSS +MB':>8s} {'USS +MB':>8s} {'PSS +MB':>8s}")
    print(f"  {'':48s} {'(ms)':>12s} {'in worker':>8s} {'(1st batch)':>17s} {'(after a pass)':>17s}")
    for o, rs in res.items():
        m = {k: statistics.median(x[k] for x in rs) for k in rs[0]}
        print(f"  {what[o]:48s} {m['first_ms']:12.0f} {m['decoded']:8.0f} {m['uss1']:8.1f} {m['pss1']:8.1f} {m['uss2']:8.1f} {m['pss2']:8.1f}", flush=True)

def main(rounds=3):
    print(f"Decoded items into a worker process (median of {rounds} workers per option; forked workers, one torch thread):", flush=True)
    set_seed(0)
    folder = png_folder(tempfile.mkdtemp())
    pdls = ImageDataLoaders.from_folder(folder, valid_pct=0.2, seed=0, bs=64, num_workers=0)
    bench(f"PNG folder: {len(pdls.train_ds)} train / {len(pdls.valid_ds)} valid 64x64 PNGs (ImageDataLoaders.from_folder)", pdls, rounds)
    df = wide_table(n=50000, n_cat=10, n_cont=100)
    tdls = _tab_dls(df, [c for c in df.columns if c[0] == 'c'], [c for c in df.columns if c[0] == 'x'])
    bench(f"DataFrame: {len(tdls.train_ds)} train / {len(tdls.valid_ds)} valid rows, 10 categorical + 100 continuous (TabularDataLoaders.from_df)", tdls, rounds)

if __name__ == '__main__':
    main(*[int(a) for a in sys.argv[1:]])
