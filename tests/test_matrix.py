"""Every tool of the package in every way a fastai user runs a Learner (issue 9's matrix), on one process.

Rows: GapMonitor, overfit_check, each input-mixing callback, each hidden-layer mixing callback (`manifold`), a remedy_learner-built model, an AWD preset learner, and
all of them together. Columns: fit, fit_one_cycle, fine_tune, lr_find then fit, two fits in a row; get_preds, predict,
validate; export + load_learner + predict (the same predictions); bf16 autocast on the CPU (`CPUAutocast`); on CUDA
(run only where a GPU is present, and required to run when `FASTAI_REMEDIES_REQUIRE_CUDA=1`, as `make gpu-check` sets
it): fp16 via `to_fp16()`, bf16 via `to_bf16()`, and for the image rows `channels_last` via `to_channelslast()`; and failure: an exception from another callback mid-epoch, a CancelFitException and a
KeyboardInterrupt — after which the Learner's loss function, model (same modules, no hooks), callbacks and optimizer
are exactly as before. Distributed data parallel is `test_ddp.py`."""
import contextlib, functools, math, os, sys, warnings
import pytest, torch, torch.nn as nn
from fastai.basics import Learner, Callback, CancelFitException, accuracy, set_seed, load_learner
from fastai.text.all import TextDataLoaders
from fastai_remedies.data import text_clas_dls, mlp
from fastai_remedies.gap import GapMonitor
from fastai_remedies.overfit import OverfitCheck  # and `Learner.overfit_check` (rung 0's own module)
from fastai_remedies.mix import MixUp, CutMix, CutMixUp
from fastai_remedies.manifold import ManifoldMixup, OutputMixup
from fastai_remedies.arch import remedy_learner
from fastai_remedies.awd import awd_classifier_learner
from conftest import small_digits, RaiseAt, learner_state
warnings.filterwarnings('ignore')

def _digits(): return small_digits(64, 64)
@functools.lru_cache(None)
def _text(): return text_clas_dls(bs=16)

def _plain(cbs=()): return Learner(_digits(), mlp(64, 10, flatten=True), metrics=accuracy, cbs=list(cbs))
def _awd(): return awd_classifier_learner(_text(), preset='fastai', sizes=dict(emb_sz=32, n_hid=32, n_layers=1), metrics=accuracy)
def _remedied(cbs=()): return remedy_learner(_digits(), mlp(64, 10, flatten=True), bn=True, ps=0.5, weight_p=0.2,
                                             metrics=accuracy, cbs=list(cbs))

ROWS = {
    'GapMonitor':     lambda: _plain([GapMonitor()]),
    'overfit_check':  lambda: _plain(),
    'MixUp':          lambda: _plain([MixUp()]),
    'CutMix':         lambda: _plain([CutMix(mode='elem')]),
    'CutMixUp':       lambda: _plain([CutMixUp(mode='pair')]),
    'ManifoldMixup':  lambda: _plain([ManifoldMixup()]),
    'OutputMixup':    lambda: _plain([OutputMixup()]),
    'ManifoldMixup (AWD text)': lambda: _awd().add_cb(ManifoldMixup()),
    'remedy_learner': lambda: _remedied(),
    'AWD preset':     lambda: _awd(),
    'all together':   lambda: _remedied([GapMonitor(), ManifoldMixup()]),
}

def _item(learn):
    "A raw item `predict` accepts"
    ds = learn.dls.valid_ds
    return ds.items.iloc[0]['text'] if isinstance(learn.dls, TextDataLoaders) or hasattr(ds.items, 'iloc') else ds[0][0]

def _quiet(f):
    def g(learn, *args):
        with learn.no_bar(), learn.no_logging(): return f(learn, *args)
    return g

def _then_check(learn):
    "overfit_check is the row's tool: run it before the column's action"
    if learn._row == 'overfit_check': assert learn.overfit_check(max_epochs=30).losses

@_quiet
def c_fit(learn, tmp): _then_check(learn); learn.fit(1, 1e-3)
@_quiet
def c_fit_one_cycle(learn, tmp): _then_check(learn); learn.fit_one_cycle(1, 1e-3)
@_quiet
def c_fine_tune(learn, tmp): _then_check(learn); learn.fine_tune(1, 1e-3, freeze_epochs=1)
@_quiet
def c_lr_find_then_fit(learn, tmp):
    _then_check(learn)
    w = [p.detach().clone() for p in learn.model.parameters()]
    learn.lr_find(num_it=10, show_plot=False)
    assert all(torch.equal(a, b) for a, b in zip(w, learn.model.parameters()))   # lr_find restores the weights
    learn.fit(1, 1e-3)
@_quiet
def c_two_fits(learn, tmp): _then_check(learn); learn.fit(1, 1e-3); learn.fit(1, 1e-3); assert len(learn.recorder.values) == 1
@_quiet
def c_get_preds(learn, tmp):
    learn.fit(1, 1e-3); p, t = learn.get_preds()
    assert len(p) == len(t) == len(learn.dls.valid_ds) and torch.isfinite(p).all()
@_quiet
def c_predict(learn, tmp): learn.fit(1, 1e-3); assert torch.isfinite(learn.predict(_item(learn))[2]).all()
@_quiet
def c_validate(learn, tmp):
    learn.fit(1, 1e-3); a, b = learn.validate(), learn.validate()
    assert a == b and all(math.isfinite(v) for v in a)
@_quiet
def c_export_load_predict(learn, tmp):
    learn.fit(1, 1e-3)
    learn.export(tmp/'learn.pkl')
    back = load_learner(tmp/'learn.pkl')
    item = _item(learn)
    assert torch.allclose(back.predict(item)[2], learn.predict(item)[2])
    assert [type(c).__name__ for c in back.cbs] == [type(c).__name__ for c in learn.cbs]
class CPUAutocast(Callback):
    """bf16 autocast on the CPU around forward and loss, as fastai's `MixedPrecision` does on CUDA (its `to_bf16` only
    autocasts on CUDA: on a CPU it warns and trains in float32); records the dtype of the predictions. Also a context
    manager: leaving the `with` block exits an autocast a raising forward left open (fastai calls no event then)"""
    order = 10
    ctx = None
    def before_batch(self):
        self._exit()   # never nest: one open autocast at most
        self.ctx = torch.autocast('cpu', dtype=torch.bfloat16); self.ctx.__enter__()
    def after_pred(self): self.dtypes.add(getattr(self.learn.pred, 'dtype', None))
    def _exit(self):
        ctx, self.ctx = self.ctx, None
        if ctx is not None: ctx.__exit__(None, None, None)
    def after_loss(self): self._exit()
    def after_cancel_batch(self): self._exit()
    def after_fit(self): self._exit()
    def before_fit(self): self.dtypes = set()
    def __enter__(self): return self
    def __exit__(self, *exc): self._exit()

def _probe(kind):
    "Run a tiny model of `kind` forward and backward under CPU bf16 autocast (raises where the CPU lacks the kernels)"
    m = nn.LSTM(4, 4, batch_first=True) if kind == 'lstm' else nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = m(torch.randn(2, 3, 4) if kind == 'lstm' else torch.randn(2, 4))
        out = out[0] if isinstance(out, tuple) else out
    out.float().sum().backward()

@functools.lru_cache(None)
def bf16_missing(kind:str):
    "Why CPU bf16 autocast cannot run a `kind` ('linear' or 'lstm') model here, or None where it can (probed once)"
    try: _probe(kind)
    except Exception as e: return f"bf16 autocast on this CPU cannot run a tiny {kind} ({type(e).__name__}: {str(e).splitlines()[0][:200]})"
    return None

def bf16_skip_reason(row):
    "The capabilities a row's bf16 column needs, checked by running them (never by machine name)"
    return bf16_missing('linear') or (bf16_missing('lstm') if 'AWD' in row else None)

@contextlib.contextmanager
def _dls_on(learn, device):
    "Train `learn` on `device` (fit moves the model to its data), putting the shared DataLoaders back where they were"
    old = learn.dls.device
    learn.dls.to(torch.device(device))
    try: yield
    finally: learn.dls.to(old)

@_quiet
def c_bf16_cpu(learn, tmp):
    with _dls_on(learn, 'cpu'), CPUAutocast() as ac:   # the CPU even where a GPU is fastai's default device
        _then_check(learn); learn.fit(1, 1e-3, cbs=ac)
    assert torch.bfloat16 in ac.dtypes and math.isfinite(learn.recorder.values[-1][0])
class PredDtypes(Callback):
    "The dtypes of the model's predictions, seen before `MixedPrecision` (order 10) casts them to float32"
    order = 9
    def before_fit(self): self.dtypes = set()
    def after_pred(self): self.dtypes.add(getattr(self.learn.pred, 'dtype', None))

def _is_image_row(row): return 'AWD' not in row

def _conv_stem(learn):
    "Put two 3x3 convolutions in front of the model, so that `channels_last` has 4-D weights to act on (digits are 1x8x8)"
    learn.model = nn.Sequential(nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 1, 3, padding=1)), learn.model)

def _on_device(learn, how, device='cuda'):
    """Fit `learn` once on `device` in the format `how` ('fp16', 'bf16' or 'channels_last'), with the half dtype checked
    in the predictions ('channels_last' on the CPU trains without AMP: the same code path, bar autocast)"""
    if how == 'channels_last': _conv_stem(learn)
    amp = torch.device(device).type == 'cuda'
    if how == 'fp16': learn.to_fp16()
    elif how == 'bf16': learn.to_bf16()
    else: learn.to_channelslast(use_amp=amp)
    rec = PredDtypes()
    with _dls_on(learn, device): _then_check(learn); learn.fit(1, 1e-3, cbs=rec)
    assert math.isfinite(learn.recorder.values[-1][0])
    assert all(p.device.type == torch.device(device).type for p in learn.model.parameters())
    if amp: assert (torch.bfloat16 if how == 'bf16' else torch.float16) in rec.dtypes, rec.dtypes
    if how == 'channels_last': assert learn.model[0][2].weight.is_contiguous(memory_format=torch.channels_last)
@_quiet
def c_fp16_cuda(learn, tmp): _on_device(learn, 'fp16')
@_quiet
def c_bf16_cuda(learn, tmp): _on_device(learn, 'bf16')
@_quiet
def c_channels_last_cuda(learn, tmp): _on_device(learn, 'channels_last')

CUDA_COLS = ('fp16 (CUDA)', 'bf16 (CUDA)', 'channels_last (CUDA)')

def cuda_skip_reason(row, col):
    "Why the CUDA column `col` cannot run row `row` here, or None; with no GPU and `FASTAI_REMEDIES_REQUIRE_CUDA=1`, a failure"
    if not torch.cuda.is_available():
        if os.environ.get('FASTAI_REMEDIES_REQUIRE_CUDA') == '1':
            pytest.fail('cuda: FASTAI_REMEDIES_REQUIRE_CUDA=1 (make gpu-check) but torch sees no GPU '
                        f'(torch {torch.__version__}, built for CUDA {torch.version.cuda})')
        return 'cuda: no GPU on this machine'
    if col == 'bf16 (CUDA)' and not torch.cuda.is_bf16_supported(): return f'cuda: {torch.cuda.get_device_name()} has no bf16'
    if col == 'channels_last (CUDA)' and not _is_image_row(row): return 'channels_last: a text row (no images, no 4-D weights)'
    return None

def _failure(exc, at):
    @_quiet
    def col(learn, tmp):
        learn.create_opt()
        before = learner_state(learn, modes=False)
        boom = RaiseAt(exc, at, it=1, order=0)
        if isinstance(exc, CancelFitException): learn.fit(1, 1e-3, cbs=boom)   # fit's own way to stop: no error comes out
        else:
            with pytest.raises(type(exc)) as info: learn.fit(1, 1e-3, cbs=boom)
            assert info.value is exc, info.value   # the very exception raised, not another error on the way out
        assert boom.done
        assert learner_state(learn, modes=False) == before
    return col

COLS = {'fit': c_fit, 'fit_one_cycle': c_fit_one_cycle, 'fine_tune': c_fine_tune, 'lr_find+fit': c_lr_find_then_fit,
        'two fits': c_two_fits, 'get_preds': c_get_preds, 'predict': c_predict, 'validate': c_validate,
        'export+load+predict': c_export_load_predict, 'bf16 (CPU)': c_bf16_cpu, 'fp16 (CUDA)': c_fp16_cuda,
        'bf16 (CUDA)': c_bf16_cuda, 'channels_last (CUDA)': c_channels_last_cuda,
        'exception mid-epoch': _failure(RuntimeError('boom'), 'after_pred'),
        'CancelFitException': _failure(CancelFitException(), 'after_batch'),
        'KeyboardInterrupt': _failure(KeyboardInterrupt(), 'before_batch')}

@pytest.mark.parametrize('col', list(COLS))
@pytest.mark.parametrize('row', list(ROWS))
def test_matrix(row, col, tmp_path, record_property):
    record_property('row', row); record_property('col', col)   # for `make gpu-check`'s table (from pytest's --junitxml)
    if col in CUDA_COLS and (why := cuda_skip_reason(row, col)): pytest.skip(why)
    if col == 'bf16 (CPU)' and (why := bf16_skip_reason(row)): pytest.skip(why)
    set_seed(0)
    learn = ROWS[row]()
    learn._row = row
    COLS[col](learn, tmp_path)

@pytest.fixture(autouse=True)
def _process_unchanged():
    "Every test starts and ends with autocast off and float32 the default dtype: one failing row cannot change another"
    def state(): return torch.is_autocast_enabled('cpu') or torch.is_autocast_enabled('cuda'), torch.get_default_dtype()
    assert state() == (False, torch.float32), f"an earlier test leaked {state()}"
    yield
    assert state() == (False, torch.float32), f"this test leaked {state()}"

class _Raises(nn.Module):
    "A model whose forward fails under autocast, as oneDNN's bf16 LSTM does on a CPU without AVX512-BF16"
    def __init__(self): super().__init__(); self.lin = nn.Linear(64, 10)
    def forward(self, x):
        if torch.is_autocast_enabled('cpu'): raise RuntimeError('could not create a primitive descriptor (simulated)')
        return self.lin(x.flatten(1))

def test_failing_bf16_row_leaves_autocast_off():
    "A bf16 forward that raises leaves autocast off and float32 predictions for the next fit (the leak of issue 16 §0)"
    learn = Learner(_digits(), _Raises(), metrics=accuracy); learn._row = "raises"
    with pytest.raises(RuntimeError, match='primitive descriptor'): c_bf16_cpu(learn, None)
    assert not torch.is_autocast_enabled('cpu')
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    assert learn.get_preds()[0].dtype == torch.float32

def test_bf16_rows_skip_without_the_capability(monkeypatch):
    "Where the CPU cannot run a bf16 LSTM the AWD rows' bf16 column is skipped with the reason, the other rows still run"
    def probe(kind):
        if kind == 'lstm': raise RuntimeError('could not create a primitive descriptor for the LSTM forward propagation primitive')
    monkeypatch.setattr(sys.modules[__name__], '_probe', probe)
    bf16_missing.cache_clear()
    try:
        assert bf16_skip_reason('MixUp') is None
        with pytest.raises(pytest.skip.Exception, match='LSTM forward propagation'): test_matrix('AWD preset', 'bf16 (CPU)', None, lambda k, v: None)
    finally: bf16_missing.cache_clear()
