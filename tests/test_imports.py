"""The package's import graph, read from the generated modules' source with `ast` (nothing is imported): no import
cycle between fastai_remedies modules — imports inside functions count, since they run too — and no private name
(`_x`) imported from another module of the package."""
import ast, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = 'fastai_remedies'
LIB = ROOT/PKG

def modules()->list: return sorted(p.stem for p in LIB.glob('*.py') if p.stem not in ('__init__', '_modidx'))

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

def test_graph_is_read():
    g = graph()
    assert 'rungs' in g['gap'] and 'gap' in g['ladder'] and 'core' in g['mix'], g   # the walk sees real edges
    assert cycles({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == [['a', 'b', 'c', 'a']] and cycles({'a': {'b'}, 'b': set()}) == []

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
