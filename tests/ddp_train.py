"""Launched by tests/test_ddp.py with `torchrun --nproc_per_node 2`: each row of the test matrix under fastai's
data-parallel training on CPU processes (gloo), one after the other in the same two processes. Each rank writes what
it saw to OUT/rank{r}.json; rank 0 also saves the final weights of each row to OUT/{row}.pth."""
import json, os, sys, warnings
from pathlib import Path
warnings.filterwarnings('ignore')
import torch
from fastai.basics import *
from fastai_remedies.data import digits_dls, text_clas_dls, mlp
from fastai_remedies.gap import GapMonitor
from fastai_remedies.overfit import OverfitCheck  # and `Learner.overfit_check` (rung 0's own module)
from fastai_remedies.mix import MixUp, CutMix, CutMixUp, MixCallback
from fastai_remedies.manifold import ManifoldMixup, OutputMixup
from fastai_remedies.arch import remedy_learner
from fastai_remedies.awd import awd_classifier_learner
from fastai_remedies.distrib import cpu_distrib_ctx

class FirstLam(Callback):
    "Record the λ of the first mixed training batch on this rank"
    order = 95
    def before_fit(self): self.lam = None
    def before_batch(self):
        cb = first(c for c in self.learn.cbs if isinstance(c, MixCallback))
        if cb is not None and self.training and self.lam is None and cb.last_plan is not None: self.lam = cb.last_plan.lam.tolist()

def digits(): return digits_dls(n_train=256, bs=32)
def plain(dls): return Learner(dls, mlp(64, 10, flatten=True), metrics=accuracy)
def remedied(dls): return remedy_learner(dls, mlp(64, 10, flatten=True), bn=True, ps=0.5, metrics=accuracy)
def awd(dls): return awd_classifier_learner(dls, preset='fastai', sizes=dict(emb_sz=32, n_hid=32, n_layers=1), metrics=accuracy)

# row: (data, learner, callbacks)
ROWS = {'GapMonitor': (digits, plain, lambda: [GapMonitor()]),
        'MixUp': (digits, plain, lambda: [GapMonitor(), MixUp()]),
        'CutMix': (digits, plain, lambda: [GapMonitor(), CutMix(mode='elem')]),
        'CutMixUp': (digits, plain, lambda: [GapMonitor(), CutMixUp(mode='pair')]),
        'ManifoldMixup': (digits, plain, lambda: [GapMonitor(), ManifoldMixup()]),
        'OutputMixup': (digits, plain, lambda: [GapMonitor(), OutputMixup()]),
        'remedy_learner': (digits, remedied, lambda: [GapMonitor()]),
        'AWD preset': (lambda: text_clas_dls(bs=16), awd, lambda: [GapMonitor()]),
        'all together': (digits, remedied, lambda: [GapMonitor(), CutMixUp(mode='elem')])}

if __name__ == '__main__':
    out, rank = Path(sys.argv[1]), int(os.environ.get('RANK', 0))
    rows = sys.argv[2:] or list(ROWS)
    res = {}
    for row in rows:
        data, make, cbs = ROWS[row]
        set_seed(rank)   # a seed per rank: independent λ draws (DDP gives every rank rank 0's initial weights)
        learn = make(data())
        lf, lam, gm = learn.loss_func, FirstLam(), None
        learn.add_cbs(cbs() + [lam])
        gm = first(c for c in learn.cbs if isinstance(c, GapMonitor))
        if row == 'GapMonitor': assert learn.overfit_check(max_epochs=20).losses   # overfit_check under the same launch
        with learn.cpu_distrib_ctx(): learn.fit(2, 1e-2)
        res[row] = dict(lam=lam.lam, table=gm.table[['epoch', 'honest_loss', 'valid_loss', 'gap']].to_dict('records'),
                        loss_func_kept=learn.loss_func is lf, model_type=type(learn.model).__name__,
                        hooks=sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in learn.model.modules()))
        if rank == 0: torch.save(learn.model.state_dict(), out/f'{row}.pth')
    (out/f'rank{rank}.json').write_text(json.dumps(dict(rank=rank, world=num_distrib(), rows=res)))
