"""The packaging decision of ../shared/DESIGN.md §3: settings.ini is the one home of metadata; pyproject.toml holds only
[build-system] and [tool.nbdev], which must agree with it; the installed package is this checkout."""
import shlex, tomllib
from configparser import ConfigParser
from importlib import metadata
from pathlib import Path

root = Path(__file__).resolve().parents[1]
cfg = ConfigParser(delimiters=['=']); cfg.read(root/'settings.ini', encoding='utf-8'); cfg = cfg['DEFAULT']
pyproj = tomllib.loads((root/'pyproject.toml').read_text())

def test_pyproject_has_only_build_system_and_nbdev():
    assert set(pyproj) == {'build-system', 'tool'} and set(pyproj['tool']) == {'nbdev'}

def test_nbdev_settings_agree_with_settings_ini():
    nb = pyproj['tool']['nbdev']
    for k in ('lib_path', 'title', 'nbs_path', 'doc_path', 'tst_flags', 'branch'): assert nb[k] == cfg[k], k

def test_requirements():
    reqs = shlex.split(cfg['requirements'])
    for r in ('fastai>=2.8.12,<2.9', 'plum-dispatch<2.10'): assert r in reqs
    assert any(r.startswith('fastcore') for r in reqs) and any(r.startswith('torch') for r in reqs)
    dev = ' '.join(shlex.split(cfg['dev_requirements']))
    for r in ('nbdev>=3.3,<4', 'pytest', 'accelerate', 'timm'): assert r in dev

def test_installed_metadata_comes_from_settings_ini():
    import fastai_remedies
    assert fastai_remedies.__version__ == cfg['version'] == metadata.version('fastai_remedies')
    assert root in Path(fastai_remedies.__file__).resolve().parents
    eps = {e.name: e.value for e in metadata.entry_points(group='console_scripts')}
    assert eps['fastai-remedies'] == 'fastai_remedies.cli:main' == cfg['console_scripts'].split('=', 1)[1]
    req = metadata.requires('fastai_remedies')
    assert any(r.replace(' ', '').startswith('fastai') and '<2.9' in r for r in req)

def test_readme_and_ci_use_make_test():
    readme = (root/'README.md').read_text()
    assert 'make test' in readme and 'make demo' in readme
    assert 'make test' in (root/'.ci'/'run').read_text()

def test_readme_rungs_table_is_the_registry():
    "The front page's table of rungs is the executed output of `rungs_md()`: stale when a rung changes and index.ipynb is not run again"
    from fastai_remedies.rungs import rungs_md
    readme = (root/'README.md').read_text()
    assert rungs_md() in readme, "README's rung table differs from fastai_remedies.rungs.rungs_md(): re-run nbs/index.ipynb, then `make readme`"
