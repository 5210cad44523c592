"""Helpers for the ladder's tests — the notebooks' (`nbs/50_ladder.ipynb`) and pytest's — not part of the package:
oracles written apart from the code they check."""
import pandas as pd

def check_keep_rule(res, keep_tol:float|None=None)->None:
    """Assert that the rows marked kept are exactly those the keep rule keeps: walking the rungs in order, the best
    trained row of a rung is kept when its valid loss is below (1 - keep_tol) × the best kept so far, and nothing else is.
    `res`: a `LadderResult`, or the `rungs` rows of the command line's results.json with its `keep_tol`."""
    if hasattr(res, 'table'): tab, tol = res.table, res.ladder.keep_tol
    else: tab, tol = pd.DataFrame(res), keep_tol
    kept = tab.kept.map(lambda v: bool(v) if v is not None and v == v else False)
    best = tab.valid_loss[0]
    assert kept[0], "the baseline is the first reference"
    for name, grp in tab.iloc[1:].groupby('name', sort=False):
        tried = grp.dropna(subset=['valid_loss'])
        if not len(tried): assert not kept[grp.index].any(), (name, grp); continue
        i = tried.valid_loss.idxmin()
        should = tried.valid_loss[i] < best * (1 - tol)
        assert kept[i] == should and not kept[grp.index.drop(i)].any(), (name, grp)
        if should: best = tried.valid_loss[i]
