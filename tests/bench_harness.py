"""The one home of the benchmarks' timing harness (`tests/bench_*.py` and `tools/gpu_check.py` import it): a clock that is
honest on the CPU and on CUDA, interleaved medians of several functions on fresh copies of a batch, their ratio, and
the check of a figure against its target ('<= 1.0', '>= 0.97', '>= 4x faster').

On CUDA a timed call starts after `torch.cuda.synchronize()` and is measured with CUDA events recorded on the current
stream before and after it (the end event is waited for), so queued kernels are counted where they run, not where they
were launched. On the CPU it is `time.perf_counter`."""
import re, statistics, time
import torch

def sync(device=None):
    "Wait for the kernels queued on `device` (a no-op on the CPU)"
    if torch.device(device or 'cpu').type == 'cuda': torch.cuda.synchronize(device)

class Clock:
    "Seconds taken by the work between `start()` and `stop()` on `device`: CUDA events there, else `perf_counter`"
    def __init__(self, device='cpu'):
        self.device = torch.device(device)
        self.cuda = self.device.type == 'cuda'
        if self.cuda: self.ev = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    def start(self):
        if self.cuda: torch.cuda.synchronize(self.device); self.ev[0].record()
        else: self.t = time.perf_counter()
    def stop(self)->float:
        if self.cuda:
            self.ev[1].record(); self.ev[1].synchronize()
            return self.ev[0].elapsed_time(self.ev[1]) / 1000
        return time.perf_counter() - self.t
    def time(self, f, *args)->float:
        "Seconds of one call `f(*args)`"
        self.start(); f(*args); return self.stop()

def timeit(fns:dict, x, rounds=15, k=5, clock=None)->dict:
    "Median per-call seconds of each function in `fns`, interleaved round by round on fresh copies of `x`"
    clock = clock or Clock(x.device)
    res = {n: [] for n in fns}
    for f in fns.values(): f(x.clone())   # warm up
    for _ in range(rounds):
        for n, f in fns.items():
            tot = 0.
            for _ in range(k): tot += clock.time(f, x.clone())
            res[n].append(tot / k)
    return {n: statistics.median(v) for n, v in res.items()}

def ratio(a, b, x, rounds=31, clock=None)->float:
    "Median per-batch time of `a` over that of `b`, measured interleaved on fresh copies of `x`"
    t = timeit({'a': a, 'b': b}, x, rounds=rounds, k=3, clock=clock)
    return t['a'] / t['b']

_TARGET = re.compile(r'^\s*(<=|>=)\s*([0-9.]+)\s*(x faster)?\s*$')

def meets(value:float, target:str)->bool:
    "Whether the ratio `value` meets `target`: '<= r' / '>= r' on the ratio itself, '>= nx faster' on its inverse"
    m = _TARGET.match(target)
    if m is None: raise ValueError(f"target={target!r}: expected '<= r', '>= r' or '>= nx faster'")
    op, n, faster = m.group(1), float(m.group(2)), m.group(3)
    v = 1 / value if faster else value
    return v <= n if op == '<=' else v >= n
