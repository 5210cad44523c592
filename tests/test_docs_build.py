"""`tools/build_docs.py` on small notebooks (no training, a few seconds): a site is built with pages, sidebar and plots;
a notebook that fails to execute stops the build with the notebook and the cell named, and the previous site stays."""
import json, subprocess, sys
from pathlib import Path
import nbformat as nbf

ROOT = Path(__file__).resolve().parents[1]

def write_nb(path, cells):
    nb = nbf.v4.new_notebook()
    nb.metadata.kernelspec = {'display_name': 'python3', 'language': 'python', 'name': 'python3'}
    nb.cells = [nbf.v4.new_markdown_cell(c[3:]) if c.startswith('md:') else nbf.v4.new_code_cell(c) for c in cells]
    nbf.write(nb, path)

def build(nbs, out):
    return subprocess.run([sys.executable, str(ROOT/'tools'/'build_docs.py'), '--nbs', str(nbs), '--out', str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)

def test_build_then_failure_keeps_previous_site(tmp_path):
    nbs, out = tmp_path/'nbs', tmp_path/'site'
    nbs.mkdir()
    write_nb(nbs/'index.ipynb', ["md:# Front page\n\n> Summary.\n\nGo to [rung 0](10_gap.ipynb).",
                                 "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2]);",
                                 "#| hide\nprint('not shown')",
                                 "#| eval: false\nraise RuntimeError('never run')"])
    write_nb(nbs/'10_gap.ipynb', ["md:# Rung zero\n\nBack [home](index.ipynb).", "open('data.txt', 'w').write('relative paths work')"])
    write_nb(nbs/'00_data.ipynb', ["md:# Data", "print(1 + 1)"])
    r = build(nbs, out)
    assert r.returncode == 0, r.stderr
    assert (nbs/'data.txt').exists()                                     # notebooks run in their own folder
    index = (out/'index.html').read_text()
    assert '<title>fastai_remedies</title>' in index and 'data:image/png;base64,' in index
    assert 'not shown' not in index                                      # `#| hide`: neither code nor output
    assert 'never run' in index and 'output_error' not in index            # `#| eval: false`: shown, not run
    assert 'href="10_gap.html"' in index and 'href="index.html"' in (out/'10_gap.html').read_text()
    assert index.index('href="10_gap.html"') < index.index('href="00_data.html"')   # the ladder's order: rung 0 before data
    assert [p['name'] for p in json.loads((out/'pages.json').read_text())] == ['index', '10_gap', '00_data']
    assert '<script' not in index
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    write_nb(nbs/'20_mix.ipynb', ["md:# Mixing", "x = 1", "y = 2", "1 / 0"])
    r = build(nbs, out)
    assert r.returncode == 1
    assert '20_mix.ipynb' in r.stderr and 'cell 4 (`1 / 0`)' in r.stderr and 'ZeroDivisionError' in r.stderr, r.stderr
    assert 'left as it was' in r.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before     # the previous site, untouched
    left = sorted(p.name for p in tmp_path.iterdir() if p.name != '.site-executed')   # executed copies, reused with --reuse only
    assert left == ['nbs', 'site'], left                                  # no half-written site left behind
