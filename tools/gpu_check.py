"""`make gpu-check`: everything that only a GPU can show, in one command on any CUDA machine, with one report.

1. install: `make install` (installs only what is missing);
2. matrix: the whole `tests/test_matrix.py` with CUDA required (`FASTAI_REMEDIES_REQUIRE_CUDA=1`): its CUDA columns train
   every row with `to_fp16()`, `to_bf16()` and, for the image rows, `to_channelslast()`; every other column runs on the GPU
   too (fastai's default device);
3. notebooks: the notebooks' fast cells (`nbdev-test`, no `--flags`);
4. bench: the GPU benchmarks, each comparison measured side by side in one run (CUDA events, `torch.cuda.synchronize`),
   printed as ratios against the issue's targets: MixUp / CutMix / CutMixUp in every mode against fastai's and timm's at
   256x3x224x224 and 1024x3x32x32 fp16; GapMonitor's epoch-time overhead on a CNN; a `regularize`d resnet50's train
   step against the same network written by hand; ManifoldMixup's step overhead; the digits ladder with one worker per
   GPU, then several trials sharing each GPU.
Every step is timed; the report goes to `--out` (default `$OUT`, else `gpu_report/`) as `report.md` and `report.json`.

Where torch sees no GPU (or with `--dry-run`) it says so in one line and exits 0 after a dry run of its own logic: the
install check, argument parsing, the matrix's CUDA columns collected and skipped, `nbdev-test` started, and every benchmark
through the same harness on CPU tensors at tiny sizes, then the same report. `tests/test_gpu_check.py` runs that dry run."""
import argparse, json, os, platform, subprocess, sys, sysconfig, time, traceback
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STEPS = ('install', 'matrix', 'notebooks', 'bench')
BENCHES = ('mix', 'gap', 'arch', 'manifold', 'ladder')

def _choices(allowed, what):
    "An argparse type: a comma-separated subset of `allowed`, or a clear error naming the values seen and expected"
    def f(s):
        got = [v.strip() for v in s.split(',') if v.strip()]
        bad = [v for v in got if v not in allowed]
        if bad or not got:
            raise argparse.ArgumentTypeError(f"{what}={s!r}: expected a comma-separated list of {', '.join(allowed)}")
        return [v for v in allowed if v in got]   # run in the script's order
    return f

def _positive(kind):
    def f(s):
        try: v = kind(s)
        except ValueError: v = None
        if v is None or v <= 0: raise argparse.ArgumentTypeError(f"{s!r}: expected a positive {kind.__name__}")
        return v
    return f

def parse_args(argv=None):
    p = argparse.ArgumentParser(prog='tools/gpu_check.py', description=__doc__.split('\n')[0],
                                epilog='Without CUDA (or with --dry-run): a dry run of this script on the CPU, exit 0.')
    p.add_argument('--out', default=os.environ.get('OUT') or 'gpu_report',
                   help='folder of report.md / report.json and the steps\' logs (default: $OUT, else gpu_report)')
    p.add_argument('--dry-run', action='store_true', help='the dry run even where CUDA is available (and no install)')
    p.add_argument('--steps', type=_choices(STEPS, '--steps'), default=list(STEPS), help=f"steps to run (default: {','.join(STEPS)})")
    p.add_argument('--bench', type=_choices(BENCHES, '--bench'), default=list(BENCHES),
                   help=f"benchmarks of the bench step (default: {','.join(BENCHES)})")
    p.add_argument('--quick', action='store_true', help='fewer rounds and a 5-epoch ladder: rougher figures, in minutes')
    p.add_argument('--step-timeout', type=_positive(float), default=3600., help='seconds each command step may run (default 3600)')
    return p.parse_args(argv)

# ---------------------------------------------------------------- steps
def _env(**extra):
    "The environment of a step: this checkout's code first, Agg plots, FutureWarnings off, plus `extra`"
    env = dict(os.environ, MPLBACKEND='Agg', PYTHONWARNINGS='ignore::FutureWarning', **extra)
    env['PYTHONPATH'] = os.pathsep.join([str(ROOT)] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p])
    return env

class Report:
    "What the run did: steps (timed), the matrix's cells, the benchmark figures; written as Markdown and JSON"
    def __init__(self, out, args, dry_run, verbose):
        self.out, self.verbose = Path(out), verbose
        self.data = dict(tool='tools/gpu_check.py', dry_run=dry_run, started=datetime.now(timezone.utc).isoformat(timespec='seconds'),
                         args=' '.join(sys.argv[1:]), host=platform.node(), python=platform.python_version(),
                         device=None, steps=[], matrix=None, benchmarks=[], seconds=None, ok=None)
        (self.out/'logs').mkdir(parents=True, exist_ok=True)
        self.t0 = time.perf_counter()

    def say(self, *a):
        if self.verbose: print(*a, flush=True)

    def command(self, name, cmd, env=None, timeout=None, must_pass=True):
        """Run `cmd` in the checkout as step `name`: its output to logs/<name>.log, its tail and time recorded (a step that
        need not pass records its exit status without failing the run)"""
        return self.start(name, cmd, env, timeout, must_pass)()

    def start(self, name, cmd, env=None, timeout=None, must_pass=True):
        "Start `command`'s process; call what this returns to wait for it and record the step"
        cmd, log = list(map(str, cmd)), self.out/'logs'/f'{name}.log'
        self.say(f"== {name}: {' '.join(cmd)}")
        t, f, slot = time.perf_counter(), open(log, 'w'), len(self.data['steps'])
        self.data['steps'].append(None)   # steps are listed in the order they started
        try: p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT)
        except OSError as e: p = None; f.write(f'{type(e).__name__}: {e}\n')
        def finish():
            rc = 'not started'
            if p is not None:
                try: rc = p.wait(timeout=None if timeout is None else max(0.1, timeout - (time.perf_counter() - t)))
                except subprocess.TimeoutExpired: p.kill(); p.wait(); rc = 'timeout'; f.write(f'\nkilled after {timeout:.0f} s\n')
            f.close()
            tail = log.read_text(errors='replace')[-4000:]
            if self.verbose: print(''.join('   ' + l + '\n' for l in tail.splitlines()[-15:]), end='', flush=True)
            return self._step(name, ' '.join(cmd), time.perf_counter() - t, rc == 0 or not must_pass, rc, tail, str(log.relative_to(self.out)), slot)
        return finish

    def call(self, name, f, *args, **kwargs):
        "Run `f(*args, **kwargs)` in this process as step `name` (an exception fails the step, the run goes on)"
        self.say(f"== {name}")
        t = time.perf_counter()
        try: res, ok, tail = f(*args, **kwargs), True, ''
        except Exception: res, ok, tail = None, False, traceback.format_exc()[-4000:]
        self._step(name, f.__name__, time.perf_counter() - t, ok, 0 if ok else 'exception', tail, None)
        if not ok: self.say(tail)
        return res

    def _step(self, name, command, secs, ok, rc, tail, log, slot=None):
        s = dict(name=name, command=command, seconds=round(secs, 2), ok=ok, rc=rc,
                 status='failed' if not ok else 'ok' if rc in (0, None) else f'reported (rc {rc})', log=log, tail=tail)
        if slot is None: self.data['steps'].append(s)
        else: self.data['steps'][slot] = s
        self.say(f"   {name}: {s['status']} in {secs:.1f} s")
        return s

    def figure(self, bench, case, name, value, target=None, unit='ratio', error=None):
        "Record one benchmark figure (or the `error` that stopped it); a ratio with a target is checked against it"
        from bench_harness import meets
        met = None if target is None or value is None else bool(meets(value, target))
        self.data['benchmarks'].append(dict(bench=bench, case=case, name=name, value=value, unit=unit, target=target, met=met, error=error))
        if value is None: return self.say(f"   {bench} | {case} | {name}: not measured ({error})")
        speed = f" ({1/value:.1f}x faster)" if unit == 'ratio' and target and 'faster' in target and value > 0 else ''
        self.say(f"   {bench} | {case} | {name}: {value:.4g} {'' if unit == 'ratio' else unit}{speed}"
                 + ('' if target is None else f"  target {target}: {'met' if met else 'MISSED'}"))

    def write(self):
        d = self.data
        d['seconds'] = round(time.perf_counter() - self.t0, 1)
        d['ok'] = all(s['ok'] for s in d['steps'])
        (self.out/'report.json').write_text(json.dumps(d, indent=1, default=str))
        (self.out/'report.md').write_text(markdown(d))
        return d['ok']

# ---------------------------------------------------------------- the matrix, from pytest's JUnit XML
def matrix_cells(xml_path):
    "{'rows', 'cols', 'cells': {row: {col: 'passed'|'skipped'|'failed'}}, 'reasons', counts} from the run's JUnit XML"
    root = ET.parse(xml_path).getroot()
    rows, cols, cells, reasons, other = [], [], {}, {}, {}
    for tc in root.iter('testcase'):
        props = {p.get('name'): p.get('value') for p in tc.iter('property')}
        st = 'failed' if tc.find('failure') is not None or tc.find('error') is not None else 'skipped' if tc.find('skipped') is not None else 'passed'
        if 'row' not in props: other[tc.get('name')] = st; continue
        r, c = props['row'], props['col']
        if r not in rows: rows.append(r)
        if c not in cols: cols.append(c)
        cells.setdefault(r, {})[c] = st
        el = tc.find('skipped') if st == 'skipped' else tc.find('failure') if tc.find('failure') is not None else tc.find('error')
        if el is not None: reasons[f'{r} | {c}'] = (el.get('message') or '')[:300]
    sts = [s for r in cells.values() for s in r.values()] + list(other.values())
    return dict(rows=rows, cols=cols, cells=cells, reasons=reasons, other=other,
                **{k: sts.count(k) for k in ('passed', 'skipped', 'failed')})

# ---------------------------------------------------------------- the benchmarks
def bench_mix(rep, device, dry, quick):
    import torch, bench_mix
    sizes = [(4, 3, 8, 8), (8, 3, 4, 4)] if dry else [(256, 3, 224, 224), (1024, 3, 32, 32)]
    rounds = 2 if dry else 11 if quick else 31
    for n, c, s, _ in sizes:
        # fp16 batches, as the issue asks; and float32 ones for fastai's callbacks, which is what they see under `to_fp16()`
        # (MixedPrecision autocasts inside the model) and all they accept (their λ is float32)
        for dtype, only in ((torch.float16, None), (torch.float32, lambda name: 'fastai' in name)):
            case = f"{n}x{c}x{s}x{s} {str(dtype)[6:]}"
            for name, r, target, err in bench_mix.bench(n, c, s, device=device, dtype=dtype, rounds=rounds,
                                                        elem_target='>= 4x faster', only=only):
                rep.figure('mix', case, name, r, target, error=err)

def bench_gap(rep, device, dry, quick):
    import bench_gap, bench_manifold
    kw = dict(rounds=1, epochs=1, n_train=64, n_valid=32) if dry else dict(rounds=4 if quick else 12, epochs=5)
    m = bench_gap.measure(model=bench_manifold.small_cnn, **kw)
    case = f"digits CNN, {kw.get('n_train', 1000)} train items"
    rep.figure('gap', case, 'epoch without GapMonitor', m['epoch_ms']['baseline'], unit='ms')
    rep.figure('gap', case, 'GapMonitor() / none, epoch time', m['ratio']['default'], '<= 1.05')
    rep.figure('gap', case, 'GapMonitor(n_items=100) / none, epoch time', m['ratio']['subset_100'], '<= 1.05')
    rep.figure('gap', case, 'first fit (uncached), GapMonitor() / none', m['first']['default'])

def bench_arch(rep, device, dry, quick):
    import torch, torchvision, bench_arch
    kw = (dict(arch=torchvision.models.resnet18, bs=2, size=32, n=1, rounds=1) if dry else
          dict(arch=torchvision.models.resnet50, bs=64, size=224, n=10, rounds=3 if quick else 7))
    amp = torch.float16 if torch.device(device).type == 'cuda' else None
    r, ms = bench_arch.resnet_case(device=device, amp=amp, **kw)
    case = f"{kw['arch'].__name__}, batch {kw['bs']}x3x{kw['size']}x{kw['size']}{', fp16 autocast, channels_last' if amp else ''}"
    rep.figure('arch', case, 'train step, regularize()d', ms['built'], unit='ms')
    rep.figure('arch', case, 'train step, hand-written', ms['hand'], unit='ms')
    rep.figure('arch', case, 'throughput regularize()d / hand-written', r, '>= 0.97')

def bench_manifold(rep, device, dry, quick):
    import bench_manifold
    cases = bench_manifold.cases(n_train=64, bs=16) if dry else bench_manifold.cases()
    for name, make in cases.items():
        r, t0, t1 = bench_manifold.ratio(make, rounds=1 if dry else 7 if quick else 21)
        rep.figure('manifold', name, 'step without', t0 * 1e3, unit='ms')
        rep.figure('manifold', name, 'step ManifoldMixup / without', r, '<= 1.10')

def bench_ladder(rep, device, dry, quick):
    import torch, bench_ladder
    from fastai_remedies.trials import embedded
    if dry: workers, kw = (1, 2), dict(data=embedded('digits', n_train=100, n_valid=100), epochs=1, lr=1e-2, rungs=['baseline', 'batchnorm'], n_seeds=2)
    else:
        g = torch.cuda.device_count()
        workers, kw = (g, 2*g, 4*g), dict(epochs=5 if quick else 20)
    walls, res = bench_ladder.walls(workers, quiet=not rep.verbose, **kw)
    case = f"digits ladder, {kw['epochs']} epochs" + ('' if dry else f", {workers[0]} GPU(s)")
    for w in workers: rep.figure('ladder', case, f'wall, {w} worker(s)' + ('' if dry else f' ({w // workers[0]} per GPU)'), walls[w], unit='s')
    for w in workers[1:]:
        rep.figure('ladder', case, f'speed-up of {w} workers over {workers[0]} (> 1: sharing pays)', walls[workers[0]] / walls[w])
        rep.figure('ladder', case, f'same table with {w} workers as with {workers[0]} (1 = yes)', float(bench_ladder.same_tables(res[workers[0]], res[w])))

BENCH_FNS = dict(mix=bench_mix, gap=bench_gap, arch=bench_arch, manifold=bench_manifold, ladder=bench_ladder)

# ---------------------------------------------------------------- the report
def _mark(st): return {'passed': 'pass', 'skipped': 'skip', 'failed': '**FAIL**'}.get(st, '')

def markdown(d)->str:
    L = [f"# make gpu-check report{' (DRY RUN: no GPU figures)' if d['dry_run'] else ''}", '']
    dev = d['device'] or {}
    L += [f"- started {d['started']} on `{d['host']}`, Python {d['python']}, torch {dev.get('torch')} (CUDA build {dev.get('cuda_build')})",
          f"- device: {dev.get('summary', 'unknown')}",
          f"- arguments: `{d['args'] or '(none)'}`; total {d['seconds']} s; all steps ok: {d['ok']}", '',
          '## Steps', '', '| step | status | seconds | command | log |', '|---|---|---:|---|---|']
    for s in d['steps']:
        st = s['status'] + ('' if s['ok'] else f" (rc {s['rc']})")
        L.append(f"| {s['name']} | {st} | {s['seconds']:.1f} | `{s['command'] or ''}` | {s['log'] or ''} |")
    m = d['matrix']
    if m:
        others = f" + {len(m['other'])} other tests" if m['other'] else ''
        L += ['', '## Test matrix (tests/test_matrix.py)', '',
              f"{m['passed']} passed, {m['skipped']} skipped, {m['failed']} failed ({len(m['rows'])} rows x {len(m['cols'])} columns{others})", '',
              '| row | ' + ' | '.join(m['cols']) + ' |', '|---|' + '---|' * len(m['cols'])]
        for r in m['rows']: L.append(f'| {r} | ' + ' | '.join(_mark(m['cells'][r].get(c)) for c in m['cols']) + ' |')
        if m['reasons']:
            L += ['', 'Skipped or failed, why:', ''] + [f"- {k}: {v}" for k, v in m['reasons'].items()]
    if d['benchmarks']:
        L += ['', '## Benchmarks', '']
        if d['dry_run']: L += ['Dry run: CPU tensors at tiny sizes. These figures only show that the harness runs; they say nothing about speed.', '']
        L += ['| bench | case | figure | value | target | met |', '|---|---|---|---:|---|---|']
        for b in d['benchmarks']:
            v = (f"{b['value']:.3f}" + ('' if b['unit'] == 'ratio' else f" {b['unit']}")) if b['value'] is not None else f"not measured: {b['error']}"
            met = '' if b['met'] is None else 'yes' if b['met'] else '**no**'
            L.append(f"| {b['bench']} | {b['case']} | {b['name']} | {v} | {b['target'] or ''} | {met} |")
    failed = [s for s in d['steps'] if not s['ok']]
    for s in failed: L += ['', f"## {s['name']} failed: last lines", '', '```', s['tail'].strip()[-2500:], '```']
    return '\n'.join(L) + '\n'

def device_info(torch, dry_reason=None)->dict:
    info = dict(torch=torch.__version__, cuda_build=torch.version.cuda, cuda=torch.cuda.is_available())
    if info['cuda']:
        n = torch.cuda.device_count()
        info.update(count=n, names=[torch.cuda.get_device_name(i) for i in range(n)], bf16=torch.cuda.is_bf16_supported())
        info['summary'] = f"{n} x {info['names'][0]} (bf16: {info['bf16']})"
    else: info['summary'] = 'no CUDA device: CPU only'
    if dry_reason: info['summary'] += f' - {dry_reason}'
    return info

# ---------------------------------------------------------------- the run
def main(argv=None)->int:
    args = parse_args(argv)
    out = Path(args.out)
    if not args.dry_run and 'install' in args.steps:   # before torch is imported: it may be what is missing
        pre = Report(out, args, False, verbose=False)   # quiet: without CUDA the one line below is all there is to read
        installed = pre.command('install', [os.environ.get('MAKE', 'make'), '-s', 'install', f'PYTHON={sys.executable}'],
                                timeout=args.step_timeout)
        if not installed['ok']: print(f"gpu-check: `make install` failed (rc {installed['rc']}):\n{installed['tail']}", file=sys.stderr)
    else: installed = None
    try: import torch
    except ImportError as e:
        print(f"gpu-check: cannot import torch ({e}); `make install` installs it", file=sys.stderr)
        return 1
    dry = args.dry_run or not torch.cuda.is_available()
    why = '--dry-run' if args.dry_run else 'torch sees no CUDA device'
    if dry: print(f"gpu-check: {why} (torch {torch.__version__}, CUDA build {torch.version.cuda}): a DRY RUN of this script "
                  f"on the CPU at tiny sizes, no GPU figures; report in {out}/ ...", end=' ', flush=True)
    rep = Report(out, args, dry, verbose=not dry)
    rep.data['device'] = device_info(torch, why if dry else None)
    if installed: rep.data['steps'].append(installed); rep.t0 = pre.t0   # the total counts the install
    elif 'install' in args.steps:   # the dry run checks, never installs (no network)
        rep.command('install', [sys.executable, 'tests/check_install.py'], env=_env(), timeout=args.step_timeout, must_pass=False)
    sys.path[:0] = [str(ROOT/'tests'), str(ROOT)]
    device = 'cpu' if dry else 'cuda'
    if 'matrix' in args.steps:
        xml = out/'matrix.xml'
        cmd = [sys.executable, '-m', 'pytest', 'tests/test_matrix.py', '-q', '-p', 'no:cacheprovider', '-o', 'junit_family=xunit1',
               f'--junitxml={xml}'] + (['-k', 'CUDA'] if dry else [])
        matrix = rep.start('matrix', cmd, env=_env(**({} if dry else {'FASTAI_REMEDIES_REQUIRE_CUDA': '1'})), timeout=args.step_timeout)
        # the GPU run waits for it (nothing else shares the GPU); the dry run's tiny benchmarks run beside it
        if not dry: matrix = matrix()
    if 'notebooks' in args.steps:
        nbtest = Path(sysconfig.get_path('scripts'))/'nbdev-test'
        cmd = [nbtest, '--help'] if dry else [nbtest, '--timing']   # the dry run: the command is there and starts
        rep.command('notebooks', cmd, env=_env(OMP_NUM_THREADS='1'), timeout=args.step_timeout)
    if 'bench' in args.steps:
        if dry: torch.set_num_threads(1)
        for b in args.bench: rep.call(f'bench: {b}', BENCH_FNS[b], rep, device, dry, args.quick)
    if 'matrix' in args.steps:
        if dry: matrix()
        if xml.exists(): rep.data['matrix'] = matrix_cells(xml)
    ok = rep.write()
    if dry:
        print(f"dry run {'passed' if ok else 'FAILED'} in {rep.data['seconds']:.0f} s")
        if not ok:
            for s in rep.data['steps']:
                if not s['ok']: print(f"  {s['name']} failed:\n{s['tail']}", file=sys.stderr)
    else:
        m = rep.data['matrix']
        if m: print(f"matrix: {m['passed']} passed, {m['skipped']} skipped, {m['failed']} failed")
        missed = [b for b in rep.data['benchmarks'] if b['met'] is False]
        print(f"gpu-check: {'all steps ok' if ok else 'some steps FAILED'}; {len(missed)} benchmark target(s) missed; "
              f"report in {out/'report.md'} and {out/'report.json'} ({rep.data['seconds']:.0f} s)")
    return 0 if ok else 1

if __name__ == '__main__': sys.exit(main())
