"""`python tools/calibrate_data_value.py [--lcdb PATH] [--tasks PATH] [--out PATH] [--from-tasks]`: recompute the
calibration of `data_value`'s intervals (fastai_remedies/data_value_calibration.json) from LCDB 0.1.0's learning curves.

LCDB 0.1.0 (Mohr et al. 2022; PyPI sdist `lcdb`, 68 MB) ships real learning curves as CSV: OpenML datasets ×
scikit-learn learners, nested training subsets per seed, a fixed test set per outer seed — `data_value`'s own design.
Stage 1 (needs LCDB: `--lcdb` names the sdist or its unpacked folder; otherwise an installed `lcdb` package is used, or
the sdist is fetched with `pip download --no-deps lcdb==0.1.0` into ~/.cache/fastai_remedies) turns the curves into
*tasks* shaped like one `data_value` call: outer seed 0, inner seeds 0–2 (3 seeds, data_value's default), sizes N/8,
N/4, N/2, N for N = 128, 256, 512, 1024; `more_data.curve_forecast` on them (the method itself), then the mean measured
at 2N and 4N. Log-loss gives the 'loss' tasks, 1 − accuracy the 'error' tasks. The tasks are written to
tools/data_value_calibration_tasks.csv.gz (committed: stage 2 and its test need no LCDB). About 10 minutes on one core.

Stage 2 (`--from-tasks` runs only this one) calibrates on the datasets with an EVEN OpenML id: split-conformal
quantiles q of the relative error |measured − projected|/|projected|, per curve ('loss', 'error'), horizon
('backtest', '2', '4') and band of the back-test's relative error, at levels 0.50–0.99; `max_backtest`, the largest
back-test error still answered, is the smallest value on a grid that answers at least 70% of the even-id loss tasks
(the acceptance's 'cannot tell' ≤ 30%; a lower threshold answers less often, with a lower median error: the
threshold scan in the file shows the trade-off on both halves). It then measures, on the ODD ids only, the coverage of the 90% intervals, the median relative
error of the answered tasks and the share of "cannot tell", and writes everything with its provenance to `--out`.
The notebook (15_more_data) checks that the shipped file is exactly what stage 2 writes from the committed tasks.
"""
from __future__ import annotations
import argparse, gzip, hashlib, io, json, math, os, subprocess, sys, tarfile, time, warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TASKS = ROOT/'tools'/'data_value_calibration_tasks.csv.gz'
OUT = ROOT/'fastai_remedies'/'data_value_calibration.json'
LCDB_VERSION = '0.1.0'
NS = (128, 256, 512, 1024)           # full sizes N of the tasks: N/8 ≥ 16, LCDB's smallest anchor
SEEDS = (0, 1, 2)                    # inner seeds at outer seed 0: data_value's default of 3 seeds, a fixed test set
LEVELS = [round(0.5 + 0.01*i, 2) for i in range(50)]   # 0.50 … 0.99
GRID = (0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.50)  # candidate max_backtest
BANDS = (0.0, 0.02, 0.05, 0.10, 0.20)  # lower edges of the back-test bands (the last one runs to max_backtest)
ANSWER_RATE = 0.70                   # answer at least this share of the even-id loss tasks (acceptance: 'cannot tell' ≤ 30%)
COLS = {'loss': 'logloss', 'error': 'accuracy'}

def _sha256(p):
    h = hashlib.sha256()
    with open(p, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''): h.update(chunk)
    return h.hexdigest()

def lcdb_source(path=None):
    "The LCDB sdist (.tar.gz) or folder holding lcdb/database-*.csv: `path`, an installed `lcdb`, or a pip download"
    if path: return Path(path)
    try:
        import importlib.util
        spec = importlib.util.find_spec('lcdb')
        if spec and spec.origin and (Path(spec.origin).parent/'database-logloss.csv').is_file(): return Path(spec.origin).parent.parent
    except Exception: pass
    cache = Path.home()/'.cache'/'fastai_remedies'
    sdist = cache/f'lcdb-{LCDB_VERSION}.tar.gz'
    if not sdist.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        print(f"LCDB not found: pip download --no-deps lcdb=={LCDB_VERSION} (68 MB) into {cache}", file=sys.stderr)
        subprocess.run([sys.executable, '-m', 'pip', 'download', '--no-deps', '--no-binary', ':all:', '-d', str(cache),
                        f'lcdb=={LCDB_VERSION}'], check=True)
    return sdist

def read_lcdb(src, metric):
    "LCDB's `database-{metric}.csv` (outer seed 0, inner seeds `SEEDS`) from the sdist or folder `src`, and its provenance"
    import pandas as pd
    cols = ['openmlid', 'learner', 'size_train', 'outer_seed', 'inner_seed', 'score_test']
    name = f'database-{metric}.csv'
    if src.is_file():
        with tarfile.open(src) as tf:
            m = next(m for m in tf.getmembers() if m.name.endswith(f'lcdb/{name}'))
            raw = tf.extractfile(m).read()
        prov = dict(file=f'lcdb/{name}', sha256=hashlib.sha256(raw).hexdigest())   # as in the unpacked sdist
        df = pd.read_csv(io.BytesIO(raw), usecols=cols)
    else:
        p = next(src.rglob(name))
        prov = dict(file=str(p.relative_to(src)), sha256=_sha256(p))
        df = pd.read_csv(p, usecols=cols)
    return df[(df.outer_seed == 0) & df.inner_seed.isin(SEEDS)], prov

def build_tasks(src):
    "One row per (curve, dataset, learner, N): the back-test and the 2×/4× projections of `curve_forecast`, and the truth"
    import numpy as np, pandas as pd
    sys.path.insert(0, str(ROOT))
    from fastai_remedies.more_data import curve_forecast, learning_curve
    rows, prov = [], {}
    for col, metric in COLS.items():
        df, prov[metric] = read_lcdb(src, metric)
        if col == 'error': df = df.assign(score_test=1 - df.score_test)
        t = time.time()
        wide = df.groupby(['openmlid', 'learner', 'size_train', 'inner_seed']).score_test.mean().unstack('inner_seed')
        for (oid, lrn), piv in wide.groupby(level=['openmlid', 'learner'], sort=True):
            piv = piv.droplevel([0, 1])   # index: size_train; columns: the seeds
            if piv.shape[1] < len(SEEDS): continue
            for N in NS:
                sizes = [N//8, N//4, N//2, N]
                if not all(s in piv.index for s in sizes + [2*N]): continue
                sub = piv.loc[sizes]
                if not np.isfinite(sub.values).all() or not np.isfinite(piv.loc[2*N].values).all(): continue
                n = np.repeat(np.array(sizes, float), sub.shape[1])
                fc = curve_forecast(n, sub.values.ravel(), N)
                t4 = piv.loc[4*N].mean() if 4*N in piv.index and np.isfinite(piv.loc[4*N].values).all() else math.nan
                rows.append(dict(col=col, openmlid=int(oid), learner=lrn, N=N, bt_predicted=fc['predicted'],
                                 bt_measured=fc['measured'], bt_rel=fc['rel_error'], now=float(learning_curve(1., *fc['fit'])),
                                 p2=float(learning_curve(2., *fc['fit'])), t2=float(piv.loc[2*N].mean()),
                                 p4=float(learning_curve(4., *fc['fit'])), t4=float(t4)))
        print(f"{metric}: {sum(r['col'] == col for r in rows)} tasks in {time.time() - t:.0f} s", file=sys.stderr)
    return pd.DataFrame(rows), prov

def write_tasks(tasks, path=TASKS):
    "The tasks as gzipped CSV, 7 significant digits, byte-identical from run to run (no timestamp in the gzip header)"
    buf = tasks.to_csv(index=False, float_format='%.7g').encode()
    with open(path, 'wb') as f, gzip.GzipFile(fileobj=f, mode='wb', mtime=0, filename='') as gz: gz.write(buf)

def provenance_path(tasks_path=TASKS):
    "The LCDB files the tasks were built from (name, sha256), beside the task table"
    return Path(tasks_path).with_suffix('').with_suffix('.provenance.json')

def stage2(tasks_path=TASKS)->str:
    "The calibration file's text from the committed task table and its provenance: what the shipped file must equal"
    return dumps(calibration(read_tasks(tasks_path), json.loads(provenance_path(tasks_path).read_text())))

def read_tasks(path=TASKS):
    import pandas as pd
    return pd.read_csv(path)

def conformal_q(scores, level):
    "Split-conformal quantile: the ⌈(n+1)·level⌉-th smallest score (inf when that exceeds n)"
    import numpy as np
    s = np.sort(np.asarray(scores, float))
    k = math.ceil((len(s) + 1)*level)
    return float(s[k-1]) if 1 <= k <= len(s) else math.inf

def rel(a, b):
    import numpy as np
    return np.abs(np.asarray(a, float) - np.asarray(b, float))/np.maximum(np.abs(np.asarray(b, float)), 1e-12)

def band_of(edges, bt):
    import numpy as np
    return np.clip(np.searchsorted(edges, bt, side='right') - 1, 0, len(edges) - 1)

def calibrate(tasks):
    "The constants from the even-id tasks: max_backtest, and q per curve, horizon, band and level"
    import numpy as np
    even = tasks[tasks.openmlid % 2 == 0]
    loss = even[even.col == 'loss']
    max_bt = min([m for m in GRID if (loss.bt_rel <= m).mean() >= ANSWER_RATE], default=max(GRID))
    edges = [e for e in BANDS if e < max_bt]
    q = {}
    for col, d in even.groupby('col'):
        q[col] = {'backtest': dict(edges=[0.0], n=[int(len(d))], q=[[conformal_q(rel(d.bt_measured, d.bt_predicted), l) for l in LEVELS]])}
        ans = d[d.bt_rel <= max_bt]
        b = band_of(edges, ans.bt_rel.values)
        for h in ('2', '4'):
            ok = ans[f't{h}'].notna().values
            sc = rel(ans[f't{h}'], ans[f'p{h}'])
            q[col][h] = dict(edges=edges, n=[int((ok & (b == k)).sum()) for k in range(len(edges))],
                             q=[[conformal_q(sc[ok & (b == k)], l) for l in LEVELS] for k in range(len(edges))])
    return max_bt, q

def evaluate(tasks, max_bt, q, ids='odd', level=0.9):
    "Coverage of the `level` intervals, answered median relative error and 'cannot tell' share on the `ids` datasets"
    import numpy as np
    d0 = tasks[tasks.openmlid % 2 == (1 if ids == 'odd' else 0)]
    li = LEVELS.index(level)
    out = {}
    for col, d in d0.groupby('col'):
        ans = d[d.bt_rel <= max_bt]
        r = dict(tasks=int(len(d)), datasets=int(d.openmlid.nunique()), cannot_tell=float(1 - len(ans)/len(d)))
        qb = q[col]['backtest']['q'][0][li]
        r['backtest_coverage'] = float(np.mean(rel(d.bt_measured, d.bt_predicted) <= qb))
        for h in ('2', '4'):
            a = ans[ans[f't{h}'].notna()]
            t = q[col][h]
            qs = np.array([t['q'][k][li] for k in band_of(t['edges'], a.bt_rel.values)])
            e = rel(a[f't{h}'], a[f'p{h}'])
            r[f'{h}x'] = dict(answered=int(len(a)), coverage=float(np.mean(e <= qs)), median_rel_error=float(np.median(e)),
                              p90_rel_error=float(np.percentile(e, 90)), median_q=float(np.median(qs)))
        out[col] = r
    return out

def threshold_scan(tasks, ids='even'):
    "For each candidate max_backtest: the share of 'cannot tell' and the answered median 2× relative error, per curve"
    import numpy as np
    d0 = tasks[tasks.openmlid % 2 == (1 if ids == 'odd' else 0)]
    return {str(m): {col: dict(cannot_tell=float((d.bt_rel > m).mean()), median_rel_error_2x=float(np.median(rel(d.p2, d.t2)[d.bt_rel <= m])))
                     for col, d in d0.groupby('col')} for m in GRID}

def calibration(tasks, prov):
    "The calibration file's content: constants, provenance and the held-out (odd-id) figures"
    sys.path.insert(0, str(ROOT))
    from fastai_remedies.more_data import CALIBRATION_FORMAT, CURVE_METHOD
    max_bt, q = calibrate(tasks)
    return dict(format=CALIBRATION_FORMAT, method=CURVE_METHOD, max_backtest=max_bt, levels=LEVELS, q=q,
                provenance=dict(source=f'LCDB {LCDB_VERSION} (Mohr et al. 2022), PyPI sdist lcdb-{LCDB_VERSION}.tar.gz', files=prov,
                                script='tools/calibrate_data_value.py', tasks=TASKS.name,
                                design=f'outer seed 0, inner seeds {list(SEEDS)}; sizes N/8, N/4, N/2, N for N in {list(NS)}; '
                                       f'truth: mean at 2N and 4N; log-loss -> loss, 1 - accuracy -> error',
                                calibrated_on='datasets with an even OpenML id', checked_on='datasets with an odd OpenML id',
                                rule=f'split-conformal quantile of |measured - projected|/|projected| per curve, horizon and '
                                     f'back-test band {list(BANDS)}; max_backtest: smallest of {list(GRID)} that answers at '
                                     f'least {ANSWER_RATE:.0%} of the even-id loss tasks'),
                held_out=evaluate(tasks, max_bt, q, 'odd'), calibration_set=evaluate(tasks, max_bt, q, 'even'),
                threshold_scan=dict(even=threshold_scan(tasks, 'even'), odd=threshold_scan(tasks, 'odd')))

def dumps(cal): return json.dumps(cal, indent=1, sort_keys=True, allow_nan=True) + '\n'

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--lcdb', help='LCDB sdist (.tar.gz) or unpacked folder (default: installed lcdb, else pip download)')
    ap.add_argument('--tasks', default=str(TASKS), help='the task table to write (stage 1) or read (--from-tasks)')
    ap.add_argument('--out', default=str(OUT), help='the calibration file to write')
    ap.add_argument('--from-tasks', action='store_true', help='skip stage 1: calibrate from the committed task table')
    args = ap.parse_args()
    warnings.filterwarnings('ignore')
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    tpath = Path(args.tasks)
    if not args.from_tasks:
        tasks, prov = build_tasks(lcdb_source(args.lcdb))
        write_tasks(tasks, tpath)
        provenance_path(tpath).write_text(json.dumps(prov, indent=1, sort_keys=True) + '\n')
    prov = json.loads(provenance_path(tpath).read_text())
    text = stage2(tpath)
    Path(args.out).write_text(text)
    cal = json.loads(text)
    print(f"wrote {args.out}: max_backtest {cal['max_backtest']}")
    print(report(cal))

def report(cal):
    "The acceptance table: held-out (odd-id) figures at 90%"
    lines = [f"{'curve':6} {'tasks':>6} {'cannot tell':>11} {'2x cover':>9} {'2x median':>9} {'4x cover':>9} {'4x median':>9} {'back-test cover':>15}"]
    for col, r in cal['held_out'].items():
        lines.append(f"{col:6} {r['tasks']:6d} {r['cannot_tell']:11.1%} {r['2x']['coverage']:9.1%} {r['2x']['median_rel_error']:9.1%} "
                     f"{r['4x']['coverage']:9.1%} {r['4x']['median_rel_error']:9.1%} {r['backtest_coverage']:15.1%}")
    return '\n'.join(lines)

if __name__ == '__main__': main()
