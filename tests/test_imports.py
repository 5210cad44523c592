"""The package's import graph, read from the generated modules' source with `ast` (nothing is imported): no import
cycle between fastai_remedies modules — imports inside functions count, since they run too, and so do dynamic imports
(`importlib.import_module('fastai_remedies.x')`, `__import__(...)` and `plugin('x', ...)` with constant strings) — no
private name (`_x`) imported from another module of the package; and its depth (a module stands one floor above
everything it imports). Importing a module changes nothing of fastai's or torch's (each module in a fresh process)."""
import ast, json, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = 'fastai_remedies'
LIB = ROOT/PKG

def modules()->list: return sorted(p.stem for p in LIB.glob('*.py') if p.stem not in ('__init__', '_modidx'))

def _const(n): return n.value if isinstance(n, ast.Constant) and isinstance(n.value, str) else None

def _dynamic(n:ast.Call):
    "The package module a call imports by name: `importlib.import_module`, `__import__`, `plugin('mod', 'name')`"
    f = n.func
    fname = f.attr if isinstance(f, ast.Attribute) else getattr(f, 'id', None)
    if fname not in ('import_module', '__import__', 'plugin') or not n.args: return None
    s = _const(n.args[0])
    if s is None: return None
    if fname == 'plugin': return s.split('.')[0]
    if fname == 'import_module' and s.startswith('.'): return s[1:].split('.')[0] or None   # import_module('.x', package)
    return s[len(PKG) + 1:].split('.')[0] if (s + '.').startswith(PKG + '.') and s != PKG else None

def imports(mod:str)->list:
    "(package module imported, names imported from it, line) for every import of a package module in `mod`, at any depth"
    out = []
    for n in ast.walk(ast.parse((LIB/f'{mod}.py').read_text(encoding='utf-8'))):
        if isinstance(n, ast.ImportFrom):
            if n.level == 1: target = n.module                                   # from .x import y / from . import x
            elif n.level == 0 and n.module and (n.module + '.').startswith(PKG + '.'): target = n.module[len(PKG) + 1:]
            else: continue
            if not target: out += [(a.name, [], n.lineno) for a in n.names]        # from fastai_remedies import x
            else: out.append((target.split('.')[0], [a.name for a in n.names], n.lineno))
        elif isinstance(n, ast.Import):
            out += [(a.name.split('.')[1], [], n.lineno) for a in n.names if a.name.startswith(PKG + '.')]
        elif isinstance(n, ast.Call) and (t := _dynamic(n)): out.append((t, [], n.lineno))
    return out

def graph()->dict: return {m: {t for t, _, _ in imports(m) if t != m} for m in modules()}

def cycles(g:dict)->list:
    "Every elementary cycle's first discovery, as a list of modules (depth-first search)"
    found, state = [], {}
    def visit(m, path):
        state[m] = 'open'
        for t in sorted(g.get(m, ())):
            if state.get(t) == 'open': found.append(path[path.index(t):] + [t])
            elif t not in state: visit(t, path + [t])
        state[m] = 'done'
    for m in sorted(g):
        if m not in state: visit(m, [m])
    return found

def floors(g:dict)->dict:
    "Each module's floor: 1 for a module importing none of the package, else one above the highest it imports (cycles cut)"
    memo = {}
    def floor(m, seen=()):
        if m in memo: return memo[m]
        f = 1 + max((floor(t, seen + (m,)) for t in g.get(m, ()) if t in g and t not in seen + (m,)), default=0)
        if not seen: memo[m] = f
        return f
    return {m: floor(m) for m in g}

def test_graph_is_read():
    g = graph()
    assert 'core' in g['mix'] and 'gap' in g['ladder'], g   # the walk sees real edges
    assert cycles({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == [['a', 'b', 'c', 'a']] and cycles({'a': {'b'}, 'b': set()}) == []
    assert floors({'a': {'b'}, 'b': {'c'}, 'c': set(), 'd': {'c'}}) == {'a': 3, 'b': 2, 'c': 1, 'd': 2}

def test_dynamic_imports_are_seen():
    src = ("import importlib\nimportlib.import_module('fastai_remedies.gap')\n__import__('fastai_remedies.mix')\n"
           "plugin('more_data', 'ladder_note')\nimportlib.import_module('os')\n")
    calls = [n for n in ast.walk(ast.parse(src)) if isinstance(n, ast.Call)]
    assert [t for n in calls if (t := _dynamic(n))] == ['gap', 'mix', 'more_data']

def depth_report()->str:
    "The floors of the package's modules, `all` (the face, which imports every module, as `fastai.vision.all`) left out"
    g = graph(); g.pop('all', None); f = floors(g)
    rows = [f"{k}: {', '.join(sorted(m for m in f if f[m] == k))}" for k in sorted(set(f.values()), reverse=True)]
    return f"{len(g)} modules (without `all`), {max(f.values())} floors, cycles {cycles(g)}\n" + '\n'.join(rows)

def test_depth_report(capsys):
    "Prints the floors (read with `pytest -s`); fails only if the graph cannot be layered at all"
    rep = depth_report()
    with capsys.disabled(): print('\n' + rep)
    assert 'floors' in rep

MAX_FLOORS = 6   # issue 23: at most six floors (from 10), `all` left out

def test_depth():
    "The package stands on at most `MAX_FLOORS` floors: a module one above the highest it imports, imports in functions and dynamic ones counted"
    g = graph(); g.pop('all', None)
    assert max(floors(g).values()) <= MAX_FLOORS, f"more than {MAX_FLOORS} floors:\n{depth_report()}"

def test_no_import_cycle():
    assert cycles(graph()) == [], f"import cycles between {PKG} modules: {cycles(graph())}"

def private_imports()->set:
    return {(m, t, name) for m in modules() for t, names, _ in imports(m) if t != m
            for name in names if name.startswith('_') and not name.startswith('__')}

def test_no_private_import_across_modules():
    bad = private_imports()
    assert not bad, f"private names imported from another module (module, from, name): {sorted(bad)}"

def test_registry_imports_no_fastai():
    "The rung registry is read by the command line before fastai is imported, and by the docs build"
    code = f"import sys, {PKG}.rungs as r; assert r.RUNG_NAMES; print(sorted(m for m in sys.modules if m.split('.')[0] in ('fastai', 'torch')))"
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip() == '[]', (r.stdout, r.stderr)

# Importing the package changes nothing of fastai's, fastcore's or torch's: one fresh process loads fastai's stacks
# first, notes every module attribute and every class attribute of them (and of torch's `Tensor`, `nn.Module`, `torch`,
# `torch.nn.functional`), then imports the package's modules one at a time, lowest floor first (each finds its own
# imports already loaded, so what changes is that module's doing), comparing after each. New methods (`@patch`) are fine;
# a replaced attribute is not. One process, not one per module: each would pay fastai's import (~10 s) again.
_SNAPSHOT = r'''
import importlib, inspect, json, sys, warnings
warnings.simplefilter('ignore')
import torch, torch.nn.functional
for m in ('fastai.basics', 'fastai.callback.all', 'fastai.vision.all', 'fastai.tabular.all', 'fastai.text.all',
          'fastai.distributed', 'fastai.test_utils'):
    importlib.import_module(m)
def owners():
    mods = {k: v for k, v in sys.modules.items() if v is not None and k.split('.')[0] in ('fastai', 'fastcore')}
    mods.update({'torch': torch, 'torch.nn.functional': torch.nn.functional})
    out = {}
    for name, mod in mods.items():
        out[name] = dict(vars(mod))
        for k, v in list(vars(mod).items()):
            if inspect.isclass(v) and v.__module__ == name: out[f'{name}.{k}'] = dict(vars(v))
    out['torch.Tensor'], out['torch.nn.Module'] = dict(vars(torch.Tensor)), dict(vars(torch.nn.Module))
    return out
def changed(before, now):
    return sorted(f'{o}.{k}' for o, d in before.items() for k, v in d.items()
                  if o in now and (k not in now[o] or now[o][k] is not v) and k not in ('__dict__', '__weakref__'))
from fastai.learner import Learner
fit = Learner.fit
before, report = owners(), {}
for m in sys.argv[1:]:
    importlib.import_module(f'fastai_remedies.{m}')
    now = owners()
    report[m] = dict(changed=changed(before, now), fit_is_fastai=Learner.fit is fit)
    before = now
print(json.dumps(report))
'''

def test_importing_changes_nothing_of_fastai():
    f = floors(graph())
    order = sorted(f, key=lambda m: (f[m], m))   # `all` last: it imports every module
    r = subprocess.run([sys.executable, '-c', _SNAPSHOT, *order], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert list(report) == order
    bad = {m: v for m, v in report.items() if v['changed'] or not v['fit_is_fastai']}
    assert not bad, f"importing these modules changed fastai's or torch's own attributes: {bad}"

def test_snapshot_sees_a_replacement():
    "The check itself: a module that replaces `Learner.fit` at import is caught"
    code = _SNAPSHOT.replace("importlib.import_module(f'fastai_remedies.{m}')", "Learner.fit = lambda self: None")
    r = subprocess.run([sys.executable, '-c', code, 'x'], capture_output=True, text=True, cwd=ROOT, timeout=600)
    rep = json.loads(r.stdout.strip().splitlines()[-1])['x']
    assert rep['changed'] == ['fastai.learner.Learner.fit'] and not rep['fit_is_fastai'], rep
