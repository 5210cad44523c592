"""Data pipeline benchmark (`make bench`): where an epoch goes, for every embedded dataset, as ratios measured in one run.

An epoch of `Learner.fit` (training and validation passes, no progress bar or logging, one torch thread) is split into
  * data:      iterating the training and validation DataLoaders alone (fetching, collation, `after_batch` transforms);
  * model:     the model-only floor: forward, loss, backward and optimizer step on the same batches (already fetched,
               cast to plain tensors as fastai's `CastToTensor` does), and forward + loss on the validation batches;
  * callbacks: the rest of the epoch (the Learner's loop, its callbacks, Recorder and metrics): epoch - data - model.
Times are this process's CPU time (`time.process_time`, one torch thread), so other processes on the shared machine
do not count. Each round measures every configuration once, in a shuffled order; times are medians over rounds, and
ratios are medians of the ratios measured within each round. Ratios are to the model's time. "before" is fastai's per-item `DataBlock` path
(`digits_dls(fast=False)`), "after" the package's default (batches indexed from decoded tensors); for the language
model, "before" is fastai's `LMDataLoader` default (`cache=2`: every document numericalized again at each epoch).
Target on digits: (data + callbacks) <= 0.5 x model, i.e. an epoch <= 1.5 x the model-only floor. "callbacks" also
prints its cost per batch: on these tiny batches it is mostly fastai's own Learner loop (event dispatch, Recorder,
metrics), which no data pipeline can remove.

A user's own data (`python tests/bench_data.py [rounds] user`, also part of the default run): the same split for an
`ImageDataLoaders.from_folder` of the 1,797 digits written as 8x8 PNGs (1,438 training items), a `TabularDataLoaders.from_df`
of ~4k rows (and two synthetic tables of 3,000 rows: a wide one, 10 categorical + 100 continuous columns, and one whose
DataFrame carries 200 columns the model does not use, which fastai's `iloc` copies at every batch) and a text classifier,
before (fastai's path) and after `decode_once`; each table prints the share of an epoch fastai's pipeline takes; then one training as a trial runs it
(10 epochs of `fit_one_cycle` with `GapMonitor`'s honest pass) on the PNG folder before and after, against the same model
on the embedded digits. Targets: PNG-folder training >= 4x faster, and within 1.5x of the embedded digits; a table's
training >= 2x faster where the pipeline dominates; text unchanged or faster. `python tests/bench_data.py [rounds] user table`
runs one part alone (png, table, text). The PNG-folder *ladder* (wall time, identical results) is `tests/bench_decode_ladder.py`."""
import os, random, statistics, sys, time, warnings
from pathlib import Path
import numpy as np, pandas as pd
warnings.filterwarnings('ignore')
import torch
torch.set_num_threads(1)
from fastai.basics import *
from fastai_remedies.data import digits_dls, tabular_dls, text_clas_dls, text_lm_dls, baseline_learner
from fastai_remedies.awd import awd_lm_learner, awd_classifier_learner
from fastai_remedies.decode import decode_once, decode_memory_mb, fastai_pipeline
from fastai_remedies.gap import GapMonitor

def _plain(b): return tuple(t.as_subclass(Tensor) if isinstance(t, Tensor) else t for t in b)

def _data(dls):
    t = time.process_time()
    for dl in (dls.train, dls.valid):
        for _ in dl: pass
    return time.process_time() - t

def _model(learn, train, valid):
    "Forward, loss, backward and step on `train`, forward and loss on `valid`: the model-only floor of an epoch"
    m, opt, lf, n = learn.model, learn.opt, learn.loss_func, learn.dls.n_inp
    def out(p): return p[0] if isinstance(p, (tuple, list)) else p  # fastai's RNNCallback keeps the first output
    t = time.process_time()
    m.train()
    if hasattr(m, 'reset'): m.reset()
    for b in train:
        loss = lf(out(m(*b[:n])), *b[n:])
        loss.backward(); opt.step(); opt.zero_grad()
    m.eval()
    if hasattr(m, 'reset'): m.reset()
    with torch.no_grad():
        for b in valid: lf(out(m(*b[:n])), *b[n:])
    return time.process_time() - t

def _epoch(learn, epochs):
    t = time.process_time()
    with learn.no_bar(), learn.no_logging(): learn.fit(epochs, 1e-3)
    return (time.process_time() - t)/epochs

def measure(configs, rounds, epochs=3):
    "Median (epoch, data, model) seconds per epoch of each configuration `name: (dls, learner)`, and batches per epoch"
    res = {k: dict(epoch=[], data=[], model=[], batches=[len(dls.train) + len(dls.valid)]) for k, (dls, _) in configs.items()}
    for k, (dls, learn) in configs.items(): _epoch(learn, 1)  # warm up (and the optimizer is created)
    for r in range(rounds):
        order = list(configs); random.Random(r).shuffle(order)
        for k in order:
            dls, learn = configs[k]
            res[k]['epoch'].append(_epoch(learn, epochs))
            res[k]['data'].append(statistics.median(_data(dls) for _ in range(epochs)))
            train, valid = [_plain(b) for b in dls.train], [_plain(b) for b in dls.valid]
            res[k]['model'].append(statistics.median(_model(learn, train, valid) for _ in range(epochs)))
    out = {}
    for k, d in res.items():
        e, dt, m = (d[n] for n in ('epoch', 'data', 'model'))
        out[k] = dict({n: statistics.median(d[n]) for n in ('epoch', 'data', 'model')}, batches=d['batches'][0],
                      r_data=statistics.median(b/c for b, c in zip(dt, m)),
                      r_cbs=statistics.median((a-b-c)/c for a, b, c in zip(e, dt, m)),
                      r_epoch=statistics.median(a/c for a, c in zip(e, m)))
    return out

def report(name, r, target=None):
    e, d, m = r['epoch'], r['data'], r['model']
    c = e - d - m
    line = (f"  {name:28s} epoch {e*1000:7.1f} ms = data {d*1000:6.1f} + model {m*1000:7.1f} + callbacks {c*1000:6.1f} "
            f"({c/r['batches']*1e6:4.0f} us/batch) | per model: data {r['r_data']:5.2f}, callbacks {r['r_cbs']:5.2f}, "
            f"data+callbacks {r['r_epoch']-1:5.2f}; epoch/model {r['r_epoch']:4.2f}")
    if target is not None: line += f" (target data+callbacks <= {target})"
    print(line, flush=True)

def main(rounds=7):
    print(f"Epoch split (median of {rounds} rounds; one torch thread; ratios are to the model's time)", flush=True)
    set_seed(0)
    digits = {}
    for k, fast, bs in (('before', False, 64), ('after', True, 64), ('after_bs256', True, 256)):
        dls = digits_dls(n_train=1000, n_valid=500, fast=fast, bs=bs)
        digits[k] = (dls, baseline_learner(dls))
    print("digits, 1000 train / 500 valid items, bs 64, plain MLP (200, 100):")
    r = measure(digits, rounds)
    report("before: DataBlock path", r['before'])
    report("after: decoded tensors", r['after'], 0.5)
    report("after, bs 256 (for scale)", r['after_bs256'], 0.5)
    print(f"  data time, before / after: {r['before']['data']/r['after']['data']:.1f}x; "
          f"epoch time, before / after: {r['before']['epoch']/r['after']['epoch']:.1f}x")
    set_seed(0)
    tabs = {}
    for name in ('breast_cancer', 'wine', 'diabetes'):
        dls = tabular_dls(name)
        tabs[name] = (dls, baseline_learner(dls))
    print("tables (fastai TabularPandas), all training rows, bs 64, tabular_learner without batchnorm (200, 100):")
    r = measure(tabs, rounds)
    for name in tabs: report(name, r[name])
    set_seed(0)
    sizes = dict(emb_sz=64, n_hid=192, n_layers=2)
    cdls, ldls0, ldls1 = text_clas_dls(), text_lm_dls(cache=2), text_lm_dls()
    text = dict(text_classifier=(cdls, awd_classifier_learner(cdls, sizes=sizes, metrics=accuracy)),
                lm_before=(ldls0, awd_lm_learner(ldls0, sizes=sizes)), lm_after=(ldls1, awd_lm_learner(ldls1, sizes=sizes)))
    print("text (fastai TextBlock), AWD-LSTM emb 64, hidden 192, 2 layers, fastai's dropouts; bs 32 (classifier), 16 x 72 tokens (LM):")
    r = measure(text, max(3, rounds//2), epochs=1)
    report('text classifier', r['text_classifier'])
    report('LM before: cache=2', r['lm_before'])
    report('LM after: every doc cached', r['lm_after'])
    print(f"  LM data time, before / after: {r['lm_before']['data']/r['lm_after']['data']:.1f}x; "
          f"epoch time, before / after: {r['lm_before']['epoch']/r['lm_after']['epoch']:.2f}x")

def png_folder(path):
    "The 1,797 embedded digits as 8x8 PNG files in `path/<label>/`, as a user would have them"
    from fastai.vision.core import PILImageBW
    from fastai_remedies.data import _digits
    imgs, y = _digits()
    for i, (im, t) in enumerate(zip(imgs, y)):
        p = Path(path)/str(t); p.mkdir(parents=True, exist_ok=True)
        PILImageBW.create(im).save(p/f'{i}.png')
    return Path(path)

def user_table():
    "A DataFrame of 3,983 rows (breast_cancer seven times) with a categorical column, as `TabularDataLoaders.from_df` reads it"
    from fastai_remedies.data import _table
    df = pd.concat([_table('breast_cancer')]*7, ignore_index=True)
    df['size'] = np.where(df['mean radius'] > 14, 'big', 'small')
    return df

def _training(dls, epochs=10, learner=baseline_learner):
    "Process seconds of one trial-like training: `fit_one_cycle(epochs)` with `GapMonitor`'s honest pass"
    set_seed(0)
    learn = learner(dls)
    t = time.process_time()
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, 1e-2, cbs=GapMonitor())
    return time.process_time() - t

def user_main(rounds=3, parts=('png', 'table', 'text')):
    print(f"A user's own data, before (fastai's path) and after decode_once (median of {rounds} rounds; one torch thread):", flush=True)
    for p in parts: dict(png=user_png, table=user_table_bench, text=user_text)[p](rounds)

def user_png(rounds):
    import tempfile
    from fastai.vision.all import ImageDataLoaders, PILImageBW
    folder = png_folder(tempfile.mkdtemp())
    set_seed(0)
    pdls = ImageDataLoaders.from_folder(folder, valid_pct=0.2, seed=0, img_cls=PILImageBW, bs=64, num_workers=0)
    print(f"PNG folder: {len(pdls.train_ds)} train / {len(pdls.valid_ds)} valid 8x8 PNGs (ImageDataLoaders.from_folder), bs 64, plain MLP (200, 100):")
    t = time.process_time(); pafter = decode_once(pdls); list(pafter.train); list(pafter.valid)
    print(f"  decoding once: {time.process_time()-t:.2f} s, {decode_memory_mb():.2f} MB kept (decode_memory_mb)", flush=True)
    r = measure(dict(before=(pdls, baseline_learner(pdls)), after=(pafter, baseline_learner(pafter))), rounds)
    report("before: fastai's path", r['before']); report("after: decode_once", r['after'])
    print(f"  data time, before / after: {r['before']['data']/r['after']['data']:.1f}x; "
          f"epoch time, before / after: {r['before']['epoch']/r['after']['epoch']:.1f}x", flush=True)
    digits = digits_dls(n_train=len(pdls.train_ds), n_valid=len(pdls.valid_ds), bs=64)
    tr = {k: [] for k in ('before', 'after', 'digits')}
    for i in range(rounds):
        with fastai_pipeline(): tr['before'].append(_training(pdls))
        tr['after'].append(_training(decode_once(pdls)))
        tr['digits'].append(_training(digits))
    b, a, d = (statistics.median(tr[k]) for k in ('before', 'after', 'digits'))
    print(f"  one training (10 epochs fit_one_cycle + GapMonitor): before {b:.2f} s, after {a:.2f} s, embedded digits {d:.2f} s; "
          f"before / after {b/a:.1f}x (target >= 4), after / embedded digits {a/d:.2f}x (target <= 1.5)", flush=True)

def wide_table(n=3000, n_cat=10, n_cont=100, n_other=0, seed=0):
    """A DataFrame of `n` rows: `n_cat` categorical columns (3 to 9 levels), `n_cont` continuous ones, a binary target, and
    `n_other` columns the model does not use (ids, notes: what a user's export carries along), all synthetic"""
    r = np.random.RandomState(seed)
    d = {f'c{i}': r.choice([f'v{j}' for j in range(3 + i % 7)], n) for i in range(n_cat)}
    d.update({f'x{i}': r.randn(n) for i in range(n_cont)})
    df = pd.DataFrame(d)
    df['target'] = np.where(df['x0'] + (df['c0'] == 'v0') + 0.5*r.randn(n) > 0.3, 'yes', 'no')
    for i in range(n_other): df[f'other{i}'] = r.choice([f'note {j}' for j in range(50)], n) if i % 2 else r.randint(0, 10**6, n)
    return df

def _tab_dls(df, cats, conts):
    from fastai.tabular.all import TabularDataLoaders, Categorify, FillMissing, Normalize as TabNormalize
    return TabularDataLoaders.from_df(df, procs=[Categorify, FillMissing, TabNormalize], cat_names=cats, cont_names=conts,
                                      y_names='target', y_block=CategoryBlock(), valid_pct=0.2, seed=0, bs=64, num_workers=0)

def _default_learner(dls):
    "fastai's default `tabular_learner` (layers 200, 100, batchnorm), accuracy"
    from fastai.tabular.all import tabular_learner
    return tabular_learner(dls, metrics=accuracy)

def user_table_bench(rounds):
    """The user's DataFrame (breast_cancer x 7), a wide table (10 categorical + 100 continuous columns) and a table whose DataFrame
    carries 200 columns the model does not use (5 categorical + 20 continuous used): fastai's `iloc` copies every column of
    every batch, so there fastai's pipeline dominates an epoch"""
    df = user_table()
    conts = [c for c in df.columns if c not in ('target', 'size')]
    print(f"DataFrame: {len(df)} rows (TabularDataLoaders.from_df), bs 64, tabular_learner without batchnorm (200, 100):")
    _table_part(_tab_dls(df, ['size'], conts), baseline_learner, rounds)
    for what, kw in (("wide table: 10 categorical + 100 continuous columns", dict(n_cat=10, n_cont=100)),
                     ("carried columns: 5 categorical + 20 continuous columns used, 200 other columns in the DataFrame",
                      dict(n_cat=5, n_cont=20, n_other=200))):
        df = wide_table(**kw)
        cats, conts = [c for c in df.columns if c[0] == 'c'], [c for c in df.columns if c[0] == 'x']
        print(f"{what}, {len(df)} rows, bs 64, fastai's default tabular_learner (200, 100, batchnorm):")
        _table_part(_tab_dls(df, cats, conts), _default_learner, rounds)

def _table_part(tdls, learner, rounds, epochs=5):
    "Epoch split before / after, one training (`epochs` of fit_one_cycle + GapMonitor) before / after, and the pipeline's share"
    tafter = decode_once(tdls)
    r = measure(dict(before=(tdls, learner(tdls)), after=(tafter, learner(tafter))), rounds)
    report("before: fastai's path", r['before']); report("after: decode_once", r['after'])
    tr = {k: [] for k in ('before', 'after')}
    for i in range(rounds):   # interleaved, as the PNG folder's
        with fastai_pipeline(): tr['before'].append(_training(tdls, epochs, learner))
        tr['after'].append(_training(decode_once(tdls), epochs, learner))
    tb, ta = statistics.median(tr['before']), statistics.median(tr['after'])
    b, a = r['before'], r['after']
    print(f"  shares of an epoch: fastai's pipeline {b['data']/b['epoch']:.0%} before, decode_once's {a['data']/a['epoch']:.0%} "
          f"after; after, the model is {a['model']/a['epoch']:.0%} and fastai's Learner loop {1-(a['data']+a['model'])/a['epoch']:.0%} "
          f"(callbacks, Recorder, metrics), which decode_once does not touch", flush=True)
    print(f"  data time, before / after: {b['data']/a['data']:.1f}x; epoch time, before / after: {b['epoch']/a['epoch']:.1f}x; "
          f"one training ({epochs} epochs + GapMonitor): before {tb:.2f} s, after {ta:.2f} s, {tb/ta:.1f}x "
          f"(target >= 2 where the pipeline dominates: {'yes' if b['data']/b['epoch'] > 0.5 else 'no'}, {b['data']/b['epoch']:.0%} of an epoch)", flush=True)

def user_text(rounds):
    from fastai.text.all import TextDataLoaders
    from fastai_remedies.data import python_docs_paragraphs
    sizes = dict(emb_sz=64, n_hid=192, n_layers=2)
    xdls = TextDataLoaders.from_df(python_docs_paragraphs(), text_col='text', label_col='label', valid_pct=0.2, seed=0, bs=32,
                                   seq_len=72, num_workers=0)
    xafter = decode_once(xdls)
    print(f"text: {len(xdls.train_ds)} train / {len(xdls.valid_ds)} valid paragraphs (TextDataLoaders.from_df), AWD-LSTM classifier as above:")
    r = measure(dict(before=(xdls, awd_classifier_learner(xdls, sizes=sizes, metrics=accuracy)),
                     after=(xafter, awd_classifier_learner(xafter, sizes=sizes, metrics=accuracy))), rounds, epochs=1)
    report("before: fastai's path", r['before']); report("after: decode_once", r['after'])
    print(f"  data time, before / after: {r['before']['data']/r['after']['data']:.1f}x; "
          f"epoch time, before / after: {r['before']['epoch']/r['after']['epoch']:.2f}x (target >= 1)", flush=True)

if __name__ == '__main__':
    parts = [a for a in sys.argv[1:] if a in ('png', 'table', 'text')]   # `user table`: that part alone
    rounds = [int(a) for a in sys.argv[1:] if a.isdigit()]
    if 'user' not in sys.argv[1:]: main(*rounds)
    user_main(rounds[0] if rounds else 3, parts or ('png', 'table', 'text'))
