"""Helpers for the ladder's tests — the notebooks' (`nbs/50_ladder.ipynb`) and pytest's — not part of the package:
oracles written apart from the code they check."""
import pandas as pd

def check_keep_rule(res, keep_tol:float|None=None)->None:
    """Assert that the rows marked kept are exactly those the paired keep rule keeps: at most one per rung level, each
    with reason 'kept', a mean paired improvement of at least keep_tol and an interval above zero; no other row kept.
    `res`: a `LadderResult`, or the `rungs` rows of the command line's results.json with its `keep_tol`."""
    if hasattr(res, 'table'): tab, tol = res.table, res.ladder.keep_tol
    else: tab, tol = pd.DataFrame(res), keep_tol
    kept = tab.kept.map(lambda v: bool(v) if v is not None and v == v else False)
    assert kept[0], "the baseline is the first reference"
    for level, grp in tab.iloc[1:].groupby('rung', sort=False):
        k = grp[kept[grp.index]]
        assert len(k) <= 1, grp
        for _, r in k.iterrows(): assert r.reason == 'kept' and r.improvement >= tol and r.improvement_lo > 0, r
        for _, r in grp.drop(index=k.index).iterrows(): assert r.reason != 'kept', r
