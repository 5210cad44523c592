"""Issue 26 §3's claim, measured: `near_duplicates` (the refusal of unlabelled items that nearly copy a validation or test
item) at 100k unlabelled items. One torch thread (as a pool worker has), random float inputs of the sizes shown, the search
as shipped: every pair compared in a reduced view (a fixed random projection to `NEAR_DIMS` values when there are more),
candidates confirmed on all the values. "inputs GB" is the inputs themselves as float32 (the caller holds them); "check GB"
is what the check adds: the reduced views, the projection matrix and one chunk² block of distances (it no longer copies
the inputs). Rows that would take more than `budget` seconds are timed on a slice and scaled (the cost is
linear in the number of unlabelled items), and say so. A measurement, not a test: it prints a table."""
import argparse, math, time, warnings
warnings.filterwarnings('ignore')
import torch
from fastai_remedies.more_data import near_duplicates
from fastai_remedies.pseudo import NEAR_DIMS

def measure(n:int, d:int, m:int, budget:float=60.)->dict:
    "Seconds for `n` unlabelled items of `d` values against `m` held items (3 planted near-copies found)"
    g = torch.Generator().manual_seed(0)
    b = torch.randn(m, d, generator=g)
    probe = min(n, 2048)
    a = torch.randn(probe, d, generator=g); a[:3] = b[:3] + 0.01
    t = time.perf_counter(); found = near_duplicates([(a,)], [(b,)]); t = time.perf_counter() - t
    assert found == [0, 1, 2], found
    est = t * n / probe
    if n == probe or est > budget:
        return dict(items=n, values=d, held=m, seconds=est, how='measured' if n == probe else f'scaled from {probe:,}',
                    gb=4*(n + m)*d/1e9)
    a = torch.randn(n, d, generator=g); a[:3] = b[:3] + 0.01
    t = time.perf_counter(); found = near_duplicates([(a,)], [(b,)]); t = time.perf_counter() - t
    assert found == [0, 1, 2], found
    return dict(items=n, values=d, held=m, seconds=t, how='measured', gb=4*(n + m)*d/1e9)

if __name__ == '__main__':
    p = argparse.ArgumentParser(); p.add_argument('--budget', type=float, default=60.); p.add_argument('--threads', type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows = [measure(n, d, m, args.budget) for n, d, m in [
        (100_000, 64, 500),         # the embedded digits (8×8), the notebook's case
        (100_000, 64, 10_000),      # digits against a 10k validation set
        (100_000, 30, 10_000),      # a table of 30 numeric columns
        (100_000, 3*32*32, 10_000), # CIFAR-sized images
        (100_000, 3*224*224, 1_000)]]   # ImageNet-sized images (inputs alone: ~60 GB as float32)
    print(f"torch threads: {torch.get_num_threads()}")
    print(f"{'items':>9} {'values':>7} {'held':>7} {'seconds':>9}  {'inputs GB':>9}  {'check GB':>8}  how")
    for r in rows:
        k = min(r['values'], NEAR_DIMS)
        extra = 4*((r['items'] + r['held'])*k + (r['values']*NEAR_DIMS if r['values'] > NEAR_DIMS else 0) + 2048**2)/1e9
        print(f"{r['items']:>9,} {r['values']:>7,} {r['held']:>7,} {r['seconds']:>9.1f}  {r['gb']:>9.1f}  {extra:>8.2f}  {r['how']}")
