"""Exit 0 when everything `make install` would install is already there: torch, every requirement and dev requirement of
settings.ini at a satisfying version, and fastai_remedies installed (editable) from *this* checkout with its console
script. Exit 1 otherwise, naming what is missing."""
import shlex, shutil, sys, sysconfig
from configparser import ConfigParser
from importlib import metadata
from pathlib import Path

root = Path(__file__).resolve().parents[1]
cfg = ConfigParser(delimiters=['=']); cfg.read(root/'settings.ini', encoding='utf-8')
reqs = shlex.split(cfg['DEFAULT']['requirements']) + shlex.split(cfg['DEFAULT']['dev_requirements'])
missing = []
try:
    from packaging.requirements import Requirement
except ImportError:
    sys.exit(print("check_install: `packaging` is missing") or 1)
for r in map(Requirement, reqs):
    try: v = metadata.version(r.name)
    except metadata.PackageNotFoundError: missing.append(f"{r} (not installed)"); continue
    if not r.specifier.contains(v, prereleases=True): missing.append(f"{r} (found {v})")
try:
    import importlib.util
    spec = importlib.util.find_spec(cfg['DEFAULT']['lib_path'])
    if spec is None or root not in Path(spec.origin).resolve().parents: missing.append(f"fastai_remedies from {root}")
except Exception as e: missing.append(f"fastai_remedies ({e})")
if not (Path(sysconfig.get_path('scripts'))/'fastai-remedies').exists(): missing.append("the fastai-remedies console script")
if missing: sys.exit(print("check_install: missing " + "; ".join(missing)) or 1)
