"The installed `fastai-remedies` console script, run as a user runs it: a real process, real training, real files."
import json, os, subprocess, sysconfig
from pathlib import Path
import pytest
from fastai_remedies.rungs import RUNGS, RUNG_NAMES   # the ladder's registry (it imports no fastai)
from ladder_checks import check_keep_rule

def run(*args, cwd=None):
    env = {**os.environ, 'MPLBACKEND': 'Agg'}
    exe = Path(sysconfig.get_path('scripts'))/'fastai-remedies'  # where pip put the console script
    return subprocess.run([str(exe), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=600)

def test_gap_writes_table_plot_and_report(tmp_path):
    out = tmp_path/'nested'/'out'
    r = run('gap', '--data', 'breast_cancer', '--epochs', '6', '--seed', '1', '--out', str(out))
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(out)) == ['gap_plot.png', 'gap_report.json', 'gap_table.csv']
    assert (out/'gap_plot.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    rep = json.loads((out/'gap_report.json').read_text())
    assert rep['data'] == 'breast_cancer' and len(rep['epochs_table']) == 6
    assert rep['phase'] in ('underfit', 'fitting', 'overfit', 'diverged')
    last = rep['epochs_table'][-1]
    assert last['gap'] == pytest.approx(last['valid_loss'] - last['honest_loss'])
    assert f"phase: {rep['phase']}" in r.stdout and rep['diagnosis'] in r.stdout
    assert (out/'gap_table.csv').read_text().splitlines()[0].startswith('epoch,train_loss,honest_loss,valid_loss,gap')

def test_same_seed_same_table(tmp_path):
    a, b = tmp_path/'a', tmp_path/'b'
    for o in (a, b): assert run('gap', '--data', 'wine', '--epochs', '3', '--seed', '5', '--out', str(o)).returncode == 0
    assert (a/'gap_table.csv').read_text().split('honest_secs')[0] == (b/'gap_table.csv').read_text().split('honest_secs')[0]
    ta, tb = (json.loads((o/'gap_report.json').read_text())['epochs_table'] for o in (a, b))
    assert [r['valid_loss'] for r in ta] == [r['valid_loss'] for r in tb]

def test_unknown_data_lists_valid_names(tmp_path):
    r = run('gap', '--data', 'mnist', '--out', str(tmp_path))
    assert r.returncode == 2
    assert "invalid choice: 'mnist'" in r.stderr and "'digits', 'breast_cancer', 'wine', 'diabetes'" in r.stderr

def test_unwritable_out_is_refused_before_training(tmp_path):
    f = tmp_path/'a_file'; f.write_text('x')
    r = run('gap', '--data', 'wine', '--out', str(f/'sub'))
    assert r.returncode == 2
    assert f"`out` (--out) must be a folder that can be written; got '{f/'sub'}'" in r.stderr
    assert 'epoch' not in r.stdout  # nothing was trained

def test_bad_epochs(tmp_path):
    r = run('gap', '--epochs', '0', '--out', str(tmp_path))
    assert r.returncode == 2 and '`epochs` (--epochs) must be a positive integer; got 0' in r.stderr

def test_help_lists_the_command():
    r = run('--help')
    assert r.returncode == 0 and 'gap' in r.stdout

def test_ladder_writes_report_plot_and_results(tmp_path):
    out = tmp_path/'ladder'
    r = run('ladder', '--data', 'wine', '--epochs', '3', '--seed', '2', '--out', str(out))
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(out)) == ['ladder_plot.png', 'report.md', 'results.json', 'trials']   # trials: the cache
    assert (out/'ladder_plot.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    res = json.loads((out/'results.json').read_text())
    rows = res['rungs']
    assert list(dict.fromkeys(row['name'] for row in rows)) == list(RUNG_NAMES) and res['data'] == 'wine'   # the registry's order
    assert [row['rung'] for row in rows] == [next(g.level for g in RUNGS if g.name == row['name']) for row in rows]
    check_keep_rule(rows, res['keep_tol'])                          # kept: exactly what the rule keeps
    base = rows[0]['valid_loss']
    trained = [row for row in rows[1:] if row['valid_loss'] is not None]
    assert trained and all(row['valid_loss'] != base for row in trained), rows   # each recipe changed training (same seed)
    assert res['recommendation'].splitlines()[0] in r.stdout
    table = [l for l in (out/'report.md').read_text().splitlines() if l.startswith('| ') and not l.startswith('| rung')]
    assert len(table) == len(rows) and all([c.strip() for c in l.strip('|').split('|')][5] == (f"{row['valid_loss']:.4f}" if row['valid_loss'] is not None else '')
                                           for l, row in zip(table, rows)), table   # the report shows the results' numbers

def test_ladder_json_and_bad_input(tmp_path):
    r = run('ladder', '--data', 'breast_cancer', '--epochs', '1', '--json', '--out', str(tmp_path/'j'))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)['data'] == 'breast_cancer'
    r = run('ladder', '--data', 'cifar', '--out', str(tmp_path))
    assert r.returncode == 2 and "invalid choice: 'cifar'" in r.stderr and "'pydoc'" in r.stderr
    r = run('ladder', '--epochs', '-2', '--out', str(tmp_path))
    assert r.returncode == 2 and '`epochs` (--epochs) must be a positive integer; got -2' in r.stderr

def test_data_value_writes_plot_table_and_verdict(tmp_path):
    out = tmp_path/'dv'
    r = run('data-value', '--data', 'wine', '--fracs', '1/4', '1/2', '1', '--seeds', '2', '--epochs', '3', '--out', str(out))
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(out)) == ['data_value.json', 'data_value_plot.png', 'data_value_table.csv']
    rep = json.loads((out/'data_value.json').read_text())
    assert rep['verdict'] in ('data-limited', 'near its floor', 'cannot tell') and f"verdict: {rep['verdict']}" in r.stdout
    assert [row['n'] for row in rep['table']] == [31, 62, 125] and rep['backtests']['loss']['fit_on'] == [31, 62]
    r = run('data-value', '--data', 'wine', '--fracs', '1/2', '1', '--out', str(tmp_path))
    assert r.returncode == 2 and '`fracs` must be at least 3 fractions' in r.stderr

def test_ladder_rungs_from_the_registry(tmp_path):
    r = run('ladder', '--help')
    assert r.returncode == 0 and all(n in r.stdout for n in RUNG_NAMES)
    out = ' '.join(r.stdout.split())   # argparse wraps the epilog
    assert [out.index(f"{g.level} {g.name} ({g.title})") for g in RUNGS] == sorted(out.index(f"{g.level} {g.name} ({g.title})") for g in RUNGS)
    r = run('ladder', '--data', 'wine', '--rungs', 'mixup', '--out', str(tmp_path))
    assert r.returncode == 2 and "invalid choice: 'mixup'" in r.stderr and all(repr(n) in r.stderr for n in RUNG_NAMES)
    r = run('ladder', '--data', 'wine', '--epochs', '2', '--rungs', 'smaller', 'batchnorm', '--json', '--out', str(tmp_path/'o'))
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)['rungs']
    assert [row['name'] for row in rows] == ['baseline', 'batchnorm', 'smaller']   # ladder order, whatever the order given
    assert rows[1]['valid_loss'] != rows[0]['valid_loss']                          # BatchNorm really changed the model

def test_ladder_ctrl_c_then_resume(tmp_path):
    "A real SIGINT while trials run: exit 130, how to resume is printed; --resume finishes with the numbers of an unbroken run"
    import signal, time
    out, env = tmp_path/'run', {**os.environ, 'MPLBACKEND': 'Agg'}
    exe = Path(sysconfig.get_path('scripts'))/'fastai-remedies'
    args = ['ladder', '--data', 'wine', '--epochs', '6', '--workers', '2', '--out', str(out)]
    p = subprocess.Popen([str(exe), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 300
    while time.time() < deadline and len(list((out/'trials').glob('trial-*.json'))) < 5 and p.poll() is None: time.sleep(0.2)
    assert p.poll() is None, 'the ladder finished before it could be interrupted'
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert '--resume' in err and json.loads((out/'results.json').read_text())['interrupted']
    n_done = len(list((out/'trials').glob('trial-*.json')))
    r = run(*args, '--resume')
    assert r.returncode == 0, r.stderr
    r2 = run(*args[:-1], str(tmp_path/'unbroken'))
    assert r2.returncode == 0, r2.stderr
    a, b = (json.loads((o/'results.json').read_text()) for o in (out, tmp_path/'unbroken'))
    assert [x['valid_loss'] for x in a['rungs']] == [x['valid_loss'] for x in b['rungs']] and a['final'] == b['final']
    assert n_done >= 5
