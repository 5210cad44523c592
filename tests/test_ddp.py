"""fastai data-parallel training on 2 CPU processes (gloo), launched with torchrun through `cpu_distrib_ctx`, for
each row of the test matrix (tests/ddp_train.py): the run finishes on both ranks, mixing stays per-rank, the Learner
is left as it was, and GapMonitor's honest train loss and gap equal a single-process measurement over the same items
with the final weights."""
import json, os, socket, subprocess, sys
from pathlib import Path
import pytest, torch

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from ddp_train import ROWS

def free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

@pytest.fixture(scope='module')
def ddp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp('ddp')
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'MPLBACKEND': 'Agg'}
    r = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_port',
                        str(free_port()), str(HERE/'ddp_train.py'), str(out)], capture_output=True, text=True,
                       env=env, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    return out, [json.loads((out/f'rank{i}.json').read_text()) for i in (0, 1)]

@pytest.mark.parametrize('row', list(ROWS))
def test_ddp_row(ddp_run, row):
    out, (a, b) = ddp_run
    assert (a['rank'], b['rank'], a['world'], b['world']) == (0, 1, 2, 2)
    ra, rb = a['rows'][row], b['rows'][row]
    assert ra['table'] == rb['table'] and len(ra['table']) == 2          # both ranks finished, with the same honest numbers
    assert ra['model_type'] != 'DistributedDataParallel' and ra['loss_func_kept'] and rb['loss_func_kept']
    assert ra['hooks'] == rb['hooks'] == 0
    if ra['lam'] is not None:
        assert len(ra['lam']) == len(rb['lam']) and ra['lam'] != rb['lam']   # each rank mixes its own batch, own λ
    data, make, cbs = ROWS[row]
    from fastai_remedies.gap import honest_dl
    dls = data()
    learn = make(dls)
    learn.model.load_state_dict(torch.load(out/f'{row}.pth'))
    with learn.no_bar(), learn.no_logging(): loss = learn.validate(dl=honest_dl(dls, None, 0))[0]
    last = ra['table'][-1]
    assert loss == pytest.approx(last['honest_loss'], rel=1e-4)   # = one process over the same items, same weights
    assert last['gap'] == pytest.approx(last['valid_loss'] - last['honest_loss'], rel=1e-6)
