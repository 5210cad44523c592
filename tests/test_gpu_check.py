"""`make gpu-check`'s script cannot rot: its dry run (what it does on a machine without CUDA) runs here end to end on tiny
CPU sizes, and the report it writes is checked; bad arguments stop it with a clear error before anything runs."""
import json, os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT/'tools'/'gpu_check.py'

def run(*args, timeout=300):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]),
               MPLBACKEND='Agg', OMP_NUM_THREADS='1')
    env.pop('OUT', None)
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)

@pytest.fixture(scope='module')
def dry(tmp_path_factory):
    out = tmp_path_factory.mktemp('gpu_report')
    p = run('--dry-run', '--out', out)
    return p, out

def test_dry_run_exits_0_saying_so_in_one_line(dry):
    p, out = dry
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1 and 'DRY RUN' in lines[0] and 'no GPU figures' in lines[0] and 'dry run passed' in lines[0], p.stdout

def test_dry_run_report_json(dry):
    _, out = dry
    d = json.loads((out/'report.json').read_text())
    assert {'dry_run', 'device', 'steps', 'matrix', 'benchmarks', 'seconds', 'ok', 'started', 'args'} <= set(d)
    assert d['dry_run'] is True and d['ok'] is True and d['device']['torch']
    steps = {s['name']: s for s in d['steps']}
    assert list(steps) == ['install', 'matrix', 'notebooks'] + [f'bench: {b}' for b in ('mix', 'gap', 'arch', 'manifold', 'ladder')]
    assert all(s['ok'] and s['seconds'] >= 0 for s in steps.values()), [s for s in d['steps'] if not s['ok']]
    assert (out/steps['matrix']['log']).exists()
    # the matrix's CUDA columns are collected for every row, and skipped here with the reason
    m = d['matrix']
    assert m['cols'] == ['fp16 (CUDA)', 'bf16 (CUDA)', 'channels_last (CUDA)'] and len(m['rows']) >= 10
    assert m['skipped'] == len(m['rows']) * 3 and m['failed'] == 0
    assert all('no GPU' in why for why in m['reasons'].values())
    # every benchmark went through the harness and recorded figures, ratios checked against their targets
    benches = {b['bench'] for b in d['benchmarks']}
    assert benches == {'mix', 'gap', 'arch', 'manifold', 'ladder'}
    for b in d['benchmarks']:
        assert b['value'] is not None or b['error'], b
        assert (b['met'] is None) == (b['target'] is None or b['value'] is None), b
    modes = {b['name'] for b in d['benchmarks'] if b['bench'] == 'mix'}
    assert all(any(f'{k} vs timm Mixup, mode={m}' == n for n in modes) for k in ('MixUp', 'CutMix', 'CutMixUp') for m in ('batch', 'pair', 'elem'))
    assert {b['target'] for b in d['benchmarks'] if 'mode=elem' in b['name']} == {'>= 4x faster'}

def test_dry_run_report_markdown(dry):
    _, out = dry
    md = (out/'report.md').read_text()
    assert md.startswith('# make gpu-check report (DRY RUN')
    assert '| step | status | seconds | command | log |' in md and '| bench: ladder | ok |' in md
    assert '| row | fp16 (CUDA) | bf16 (CUDA) | channels_last (CUDA) |' in md and '| MixUp | skip | skip | skip |' in md
    assert '| bench | case | figure | value | target | met |' in md and 'CutMixUp vs timm Mixup, mode=elem' in md
    assert 'say nothing about speed' in md

@pytest.mark.parametrize('args, says', [
    (['--steps', 'matrix,bogus'], "--steps='matrix,bogus': expected a comma-separated list of install, matrix, notebooks, bench"),
    (['--bench', 'mix,nope'], "--bench='mix,nope': expected a comma-separated list of mix, gap, arch, manifold, ladder"),
    (['--step-timeout', '-3'], "'-3': expected a positive float"),
    (['--frobnicate'], 'unrecognized arguments: --frobnicate'),
])
def test_bad_arguments_stop_with_a_clear_error(args, says, tmp_path):
    p = run(*args, '--out', tmp_path/'r', timeout=60)
    assert p.returncode == 2 and says in p.stderr, p.stderr
    assert not (tmp_path/'r').exists()   # stopped before anything ran

def _load(name, path):
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, path); m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
    return m

def test_targets_and_matrix_table(tmp_path):
    "A ratio meets '<= r', '>= r' and '>= nx faster' as written; the matrix table reads pass / skip / fail from JUnit XML"
    h = _load('bench_harness', ROOT/'tests'/'bench_harness.py')
    assert h.meets(0.9, '<= 1.0') and not h.meets(1.1, '<= 1.0') and h.meets(0.98, '>= 0.97')
    assert h.meets(0.2, '>= 4x faster') and not h.meets(0.3, '>= 4x faster')
    with pytest.raises(ValueError, match=r"target='about 1': expected"): h.meets(1., 'about 1')
    g = _load('gpu_check', SCRIPT)
    prop = lambda r, c: f'<properties><property name="row" value="{r}"/><property name="col" value="{c}"/></properties>'
    (tmp_path/'m.xml').write_text(f'''<testsuites><testsuite>
      <testcase name="a">{prop('MixUp', 'fit')}</testcase>
      <testcase name="b">{prop('MixUp', 'fp16 (CUDA)')}<failure message="boom on cuda">tb</failure></testcase>
      <testcase name="c">{prop('AWD preset', 'channels_last (CUDA)')}<skipped message="a text row"/></testcase>
      <testcase name="test_other"/></testsuite></testsuites>''')
    m = g.matrix_cells(tmp_path/'m.xml')
    assert m['rows'] == ['MixUp', 'AWD preset'] and m['cols'] == ['fit', 'fp16 (CUDA)', 'channels_last (CUDA)']
    assert m['cells']['MixUp'] == {'fit': 'passed', 'fp16 (CUDA)': 'failed'} and (m['passed'], m['skipped'], m['failed']) == (2, 1, 1)
    assert m['reasons'] == {'MixUp | fp16 (CUDA)': 'boom on cuda', 'AWD preset | channels_last (CUDA)': 'a text row'}
    md = g.markdown(dict(dry_run=False, device=None, started='now', host='h', python='3', args='', seconds=1., ok=False,
                         steps=[], matrix=m, benchmarks=[]))
    assert '| MixUp | pass | **FAIL** |  |' in md and '2 passed, 1 skipped, 1 failed (2 rows x 3 columns + 1 other tests)' in md
