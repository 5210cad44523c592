"""Launched by tests/test_ddp.py with `torchrun --nproc_per_node 2`: the package's tools together under fastai's
data-parallel training on CPU processes (gloo). Each rank writes what it saw to OUT/rank{r}.json; rank 0 also saves
the final weights to OUT/model.pth."""
import json, os, sys, warnings
from pathlib import Path
warnings.filterwarnings('ignore')
import torch
from fastai.basics import *
from fastai_remedies.data import digits_dls, mlp
from fastai_remedies.gap import GapMonitor
from fastai_remedies.mix import MixUp
from fastai_remedies.arch import remedy_learner
from fastai_remedies.distrib import cpu_distrib_ctx

class FirstLam(Callback):
    "Record the λ of the first mixed training batch on this rank"
    order = 95
    def before_fit(self): self.lam = None
    def before_batch(self):
        cb = self.learn.mix_up
        if self.training and self.lam is None and cb.last_plan is not None: self.lam = cb.last_plan.lam.tolist()

def build(dls): return remedy_learner(dls, mlp(64, 10, flatten=True), bn=True, ps=0.5, metrics=accuracy)

if __name__ == '__main__':
    out = Path(sys.argv[1])
    set_seed(int(os.environ.get('RANK', 0)))   # a seed per rank: independent λ draws (DDP gives every rank rank 0's weights)
    dls = digits_dls(n_train=256, bs=32)
    learn = build(dls)
    gm, lam = GapMonitor(), FirstLam()
    learn.add_cbs([MixUp(), gm, lam])
    with learn.cpu_distrib_ctx(): learn.fit(2, 1e-2)
    r = rank_distrib()
    (out/f'rank{r}.json').write_text(json.dumps(dict(rank=r, world=num_distrib(), lam=lam.lam,
        table=gm.table[['epoch', 'honest_loss', 'valid_loss', 'gap']].to_dict('records'),
        loss_func_restored=learn.loss_func.__class__.__name__, model_type=type(learn.model).__name__)))
    if r == 0: torch.save(learn.model.state_dict(), out/'model.pth')
