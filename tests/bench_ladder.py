"""The ladder's wall time on the embedded digits (`make bench`) and the share of it spent outside training.

Training = the `fit_one_cycle` calls of every rung, the `overfit_check` and the `lr_find`; outside = building the
models (regularize, fx tracing), choosing rungs, the result and its report and plot. GapMonitor's honest passes run
inside the fits; their share is printed separately as 'measuring'. Target: outside training <= 10%."""
import time, warnings, tempfile
warnings.filterwarnings('ignore')
import matplotlib; matplotlib.use('Agg')
from fastai_remedies.data import digits_dls
from fastai_remedies.ladder import RemedyLadder

if __name__ == '__main__':
    start = time.perf_counter()
    res = RemedyLadder(digits_dls(), epochs=20, quiet=True).run()
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        res.plot().savefig(f'{d}/p.png'); res.report_md(); res.to_dict()
        report = time.perf_counter() - t
    total = time.perf_counter() - start
    train, meas = res.seconds_training, res.seconds_measuring
    print(__doc__.split('\n')[0])
    print(f"  rungs tried: {int(res.table.valid_loss.notna().sum())}, kept: {res.kept or 'none'}")
    print(f"  wall time {total:.1f} s: training {train:.1f} s, outside training {total-train:.1f} s "
          f"({(total-train)/total:.1%}; target <= 10%), of which report and plot {report:.1f} s")
    print(f"  measuring (GapMonitor's honest passes, inside training): {meas:.1f} s ({meas/total:.1%} of the wall time)")
