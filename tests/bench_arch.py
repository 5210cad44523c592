"""regularize / remedy_learner benchmarks (`make bench`), figures as measured in one run.

1. Train-step throughput of a built model vs the same architecture written by hand with the same layers (target >= 0.97x).
   Two architectures: the digits MLP (200, 100) and a small CNN with functional activations, each with BatchNorm and
   head dropout (`regularize(model, bn=True, ps=0.5)`), against `nn.Sequential`s of the same layers written by hand.
   A train step is forward, cross-entropy, backward and an SGD step on a fixed batch. Each round times a block of steps
   of both models in a shuffled order (the machine is shared and noisy); the ratio printed is the median over rounds of
   hand-written time / built time (> 1: the built model is faster).
2. Time to regularise torchvision's resnet50(weights=None) with BatchNorm, head dropout and stochastic depth (the copy,
   the trace and the edits; target <= 2 s): median and max of several runs.
`tools/gpu_check.py` runs the throughput comparison on CUDA with torchvision's resnet50 (`resnet_case`): fp16 autocast,
channels_last, steps timed with CUDA events."""
import random, statistics, time, warnings
warnings.filterwarnings('ignore')
import torch, torchvision
from torch import nn
import torch.nn.functional as F
from fastai_remedies.data import mlp
from fastai_remedies.arch import regularize, LinBatchNorm
from bench_harness import Clock

class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 32, 3, padding=1), nn.Conv2d(32, 64, 3, padding=1)
        self.fc1, self.fc2 = nn.Linear(64*8*8, 128), nn.Linear(128, 10)
    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))

def hand_mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 200, bias=False), LinBatchNorm(200), nn.ReLU(), nn.Dropout(0.25),
                         nn.Linear(200, 100, bias=False), LinBatchNorm(100), nn.ReLU(), nn.Dropout(0.5), nn.Linear(100, 10))

def hand_cnn():
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
                         nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Dropout(0.25), nn.Linear(64*8*8, 128, bias=False), LinBatchNorm(128), nn.ReLU(),
                         nn.Dropout(0.5), nn.Linear(128, 10))

def steps(model, x, y, n, amp=None):
    "Seconds of `n` train steps of `model` on the batch (`x`, `y`), under autocast to `amp` when given (on `x`'s device)"
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    model.train()
    clock = Clock(x.device)
    clock.start()
    for _ in range(n):
        with torch.autocast(x.device.type, dtype=amp, enabled=amp is not None): loss = F.cross_entropy(model(x), y)
        opt.zero_grad(); loss.backward(); opt.step()
    return clock.stop()

def throughput(name, built, hand, x, y, n, rounds, amp=None, quiet=False):
    "Median over shuffled rounds of hand-written / built time for `n` steps, and each one's ms per step"
    assert sum(p.numel() for p in built.parameters()) == sum(p.numel() for p in hand.parameters())
    models = dict(built=built, hand=hand)
    for m in models.values(): steps(m, x, y, 3, amp)  # warm up
    times = {k: [] for k in models}
    for r in range(rounds):
        order = list(models); random.Random(r).shuffle(order)
        for k in order: times[k].append(steps(models[k], x, y, n, amp))
    ratio = statistics.median(h/b for h, b in zip(times['hand'], times['built']))
    ms = {k: statistics.median(v)/n*1000 for k, v in times.items()}
    if not quiet: print(f"  {name:44s} built {ms['built']:6.3f} ms/step, hand-written {ms['hand']:6.3f} ms/step | "
                        f"throughput ratio {ratio:.3f} (target >= 0.97)")
    return ratio, ms

def hand_resnet(arch, ps=0.5):
    "torchvision's `arch` with the dropout `regularize(ps=ps)` puts before its head, written by hand"
    m = arch(weights=None); m.fc = nn.Sequential(nn.Dropout(ps), m.fc)
    return m

def resnet_case(arch=torchvision.models.resnet50, bs=64, size=224, n=10, rounds=7, device='cpu', amp=None, channels_last=True):
    "Throughput (ratio, ms per step) of `regularize(arch(), bn=True, ps=0.5)` against `hand_resnet(arch)`"
    torch.manual_seed(0); built = regularize(arch(weights=None), bn=True, ps=0.5)
    torch.manual_seed(0); hand = hand_resnet(arch)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    built, hand = built.to(device, memory_format=fmt), hand.to(device, memory_format=fmt)
    x = torch.randn(bs, 3, size, size, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, 1000, (bs,), device=device)
    return throughput(f'{arch.__name__}, batch {bs}x3x{size}x{size}', built, hand, x, y, n, rounds, amp=amp, quiet=True)

def main():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    print("1. train-step throughput, regularize(model, bn=True, ps=0.5) vs the same layers written by hand")
    built = regularize(mlp(64, 10, flatten=True), bn=True, ps=0.5)
    throughput('digits MLP (200, 100), batch 64 of 1x8x8:', built, hand_mlp(), torch.randn(64, 1, 8, 8), torch.randint(0, 10, (64,)), 200, 15)
    built = regularize(SmallCNN(), bn=True, ps=0.5)
    throughput('CNN with F.relu, batch 64 of 1x16x16:', built, hand_cnn(), torch.randn(64, 1, 16, 16), torch.randint(0, 10, (64,)), 20, 15)
    print("2. time to regularise torchvision resnet50(weights=None): bn=True, ps=0.5, drop_path=0.1")
    m = torchvision.models.resnet50(weights=None)
    secs = []
    for _ in range(5):
        t = time.perf_counter(); r = regularize(m, bn=True, ps=0.5, drop_path=0.1); secs.append(time.perf_counter() - t)
    print(f"  {len(r.remedies.edits)} edits (path {r.remedies.path!r}); median {statistics.median(secs):.3f} s, "
          f"max {max(secs):.3f} s over {len(secs)} runs (target <= 2 s)")

if __name__ == '__main__': main()
