"""fastai data-parallel training on 2 CPU processes (gloo), launched with torchrun through `cpu_distrib_ctx`:
the run finishes on both ranks, mixing stays per-rank, and GapMonitor's honest train loss and gap equal a
single-process measurement over the same items with the final weights."""
import json, os, socket, subprocess, sys
from pathlib import Path
import pytest, torch

HERE = Path(__file__).parent

def free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

@pytest.fixture(scope='module')
def ddp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp('ddp')
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'MPLBACKEND': 'Agg'}
    r = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_port',
                        str(free_port()), str(HERE/'ddp_train.py'), str(out)], capture_output=True, text=True,
                       env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return out, [json.loads((out/f'rank{i}.json').read_text()) for i in (0, 1)]

def test_both_ranks_finish_and_agree(ddp_run):
    out, (a, b) = ddp_run
    assert (a['rank'], b['rank'], a['world'], b['world']) == (0, 1, 2, 2)
    assert a['table'] == b['table'] and len(a['table']) == 2           # the same honest numbers on every rank
    assert a['model_type'] == b['model_type'] != 'DistributedDataParallel'   # fastai unwraps the model after fit
    assert a['loss_func_restored'] == b['loss_func_restored'] == 'CrossEntropyLossFlat'

def test_mixing_is_per_rank(ddp_run):
    out, (a, b) = ddp_run
    assert len(a['lam']) == len(b['lam']) == 32             # each rank mixes its own batch of 32 (its shard) …
    assert a['lam'] != b['lam']                             # … with its own λ draws (seeded per rank)

def test_honest_loss_equals_single_process(ddp_run):
    out, (a, b) = ddp_run
    sys.path.insert(0, str(HERE))
    from ddp_train import build
    from fastai_remedies.data import digits_dls
    from fastai_remedies.gap import honest_dl
    dls = digits_dls(n_train=256, bs=32)
    learn = build(dls)
    learn.model.load_state_dict(torch.load(out/'model.pth'))
    with learn.no_bar(), learn.no_logging(): loss = learn.validate(dl=honest_dl(dls, None, 0))[0]
    last = a['table'][-1]
    assert loss == pytest.approx(last['honest_loss'], rel=1e-5)
    assert last['gap'] == pytest.approx(last['valid_loss'] - last['honest_loss'], rel=1e-6)
