"""`python tools/build_docs.py [--nbs nbs] [--out _docs] [--workers 2]`: the documentation as a static site, without Quarto.

Executes every notebook of `--nbs` (slow cells too: they are the real outputs) with the python3 kernel, two at a time,
one torch thread each, in the notebook's own folder; renders each to `<out>/<name>.html` with nbconvert (prose, code,
outputs, plots embedded as data URIs) and, in place of every `#| export` cell, the API of what it defines: signature,
docstring and a parameter table from the docments, as nbdev's `show_doc` gives them. Every page has a sidebar in the
ladder's order (rung 0 to rung 5, then data, the command, the tutorials). Nothing on a page loads anything from the
network: no scripts at all, inline CSS, images as data URIs.

The site is built in a temporary folder next to `--out` and swapped in only when every notebook ran: a notebook that
fails stops the build with the notebook and cell named (exit status 1) and leaves the previous site as it was.
"""
from __future__ import annotations
import argparse, ast, html, importlib, inspect, json, multiprocessing as mp, os, re, shutil, signal, sys, tempfile, time
from configparser import ConfigParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The sidebar: sections in the ladder's order. A section matches a page by a pattern on its name, or by a tuple of module
# names (a page `NN_mod` holds module `mod`). The rungs' sections come from the ladder's registry (`fastai_remedies.rungs`):
# one per rung number whose tools have pages. A page belongs to the first section that matches it.
def _sections()->tuple:
    from fastai_remedies.rungs import docs_sections
    return ((('', r'index$'),) + tuple(docs_sections()) +
            (('The whole ladder', ('rungs', 'ladder')), ('Data', r'0\d'), ('Command line', r'6\d'), ('Tutorials', r'\d+_tutorial'),
             ('More', r'')))

SECTIONS = _sections()

INLINE_BACKEND = 'module://matplotlib_inline.backend_inline'

class BuildError(Exception): "A notebook failed to execute or render: the message names the notebook and the cell"

# ---------------------------------------------------------------------------------------------------------------------
# nbdev cell directives (`#| export`, `#| hide`, `#| eval: false`, ...)

_DIRECTIVE = re.compile(r'^\s*#\s*\|\s*([\w-]+)\s*:?\s*(.*?)\s*$')

def directives(source:str)->dict:
    "The `#| name value` directives at the top of a cell's `source`, as {name: value}"
    out = {}
    for line in source.splitlines():
        if not line.strip(): continue
        m = _DIRECTIVE.match(line)
        if not m: break
        out[m.group(1).lower()] = m.group(2)
    return out

def strip_directives(source:str)->str:
    "`source` without its leading directive lines"
    lines = source.splitlines()
    while lines and (not lines[0].strip() or _DIRECTIVE.match(lines[0])): lines.pop(0)
    return '\n'.join(lines)

def _false(v:str)->bool: return v.strip().lower() in ('false', 'no', '0')

def skip_execution(cell)->bool:
    "Whether `cell` is a code cell that nbdev/Quarto would not run (`#| eval: false`)"
    return cell.cell_type == 'code' and _false(directives(cell.source).get('eval', 'true'))

# ---------------------------------------------------------------------------------------------------------------------
# Execution (in worker processes, one kernel each)

def _stop_worker(*_):
    "SIGTERM in a worker: kill its kernel, then exit at once (a kernel in the middle of a cell would not shut down politely)"
    try:
        import psutil
        for c in psutil.Process().children(recursive=True): c.kill()
    except Exception: pass
    os._exit(1)

def _worker_init():
    "Worker setup: kernels inherit one torch thread and matplotlib's inline backend; SIGTERM, or the builder's death, kills the kernel"
    os.environ.update(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', MPLBACKEND=INLINE_BACKEND)
    os.environ.setdefault('PYTHONWARNINGS', 'ignore::FutureWarning')
    signal.signal(signal.SIGTERM, _stop_worker)
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the builder's to handle: it stops the workers
    try:
        import ctypes
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG: no orphan keeps a kernel running
    except Exception: pass

def _first_line(src:str)->str:
    line = next((l for l in strip_directives(src).splitlines() if l.strip()), '')
    return line if len(line) <= 80 else line[:77] + '...'

def execute_notebook(args)->dict:
    "Execute the notebook at `path` in its own folder; {'ok', 'path', 'nb' (JSON) or 'error', 'seconds'}"
    path, timeout = args
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError
    path, start = Path(path), time.perf_counter()
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name='python3', resources={'metadata': {'path': str(path.parent)}},
                            extra_arguments=['--IPKernelApp.log_level=ERROR'])
    i = -1
    try:
        with client.setup_kernel():
            for i, cell in enumerate(nb.cells):
                if cell.cell_type == 'code' and not skip_execution(cell): client.execute_cell(cell, i)
    except (CellExecutionError, CellTimeoutError) as e:
        err = (f"{e.ename}: {e.evalue}" if isinstance(e, CellExecutionError) else f"timed out after {timeout} s")
        tb = _ANSI.sub('', str(e)) if isinstance(e, CellExecutionError) else ''
        return dict(ok=False, path=str(path), cell=i + 1, first=_first_line(nb.cells[i].source), error=err, detail=tb[-3000:],
                    seconds=time.perf_counter() - start)
    except Exception as e:
        where = f"cell {i + 1}" if i >= 0 else "kernel start"
        return dict(ok=False, path=str(path), cell=i + 1 if i >= 0 else None, first=_first_line(nb.cells[i].source) if i >= 0 else '',
                    error=f"{type(e).__name__}: {e} ({where})", detail='', seconds=time.perf_counter() - start)
    return dict(ok=True, path=str(path), nb=nbformat.writes(nb), seconds=time.perf_counter() - start)

_ANSI = re.compile(r'\x1b\[[0-9;]*[A-Za-z]')

def failure_message(r:dict)->str:
    "The error message of a failed execution result `r`: notebook, cell (1-based, with its first line) and the error"
    where = f"cell {r['cell']} (`{r['first']}`)" if r.get('cell') else "before any cell ran"
    msg = f"make docs: {r['path']} failed to execute at {where}: {r['error']}"
    return msg + (f"\n{r['detail'].strip()}" if r.get('detail') else '')

def _run_one(path:str, timeout:int, result_file:str):
    "Worker process: execute one notebook and write its result (JSON) to `result_file`"
    _worker_init()
    r = execute_notebook((path, timeout))
    Path(result_file + '.part').write_text(json.dumps(r))
    os.replace(result_file + '.part', result_file)

def execute_all(paths:list, workers:int=2, timeout:int=900, order:dict|None=None, log=print)->dict:
    "Execute `paths`, one process each, `workers` at a time, longest first (`order`: {name: seconds} of the last build); {path: result}"
    order = order or {}
    queue = sorted(paths, key=lambda p: -order.get(Path(p).name, Path(p).stat().st_size / 1e4))
    ctx, results, running = mp.get_context('spawn'), {}, {}
    tmpd = tempfile.mkdtemp(prefix='docs-exec-')
    try:
        while queue or running:
            while queue and len(running) < max(1, workers):
                p = queue.pop(0)
                f = os.path.join(tmpd, f"{len(results) + len(running)}-{Path(p).stem}.json")
                proc = ctx.Process(target=_run_one, args=(str(p), timeout, f))
                proc.start()
                running[proc] = (p, f)
            time.sleep(0.2)
            for proc in [q for q in running if not q.is_alive()]:
                p, f = running.pop(proc)
                proc.join()
                if not os.path.exists(f):
                    raise BuildError(f"make docs: the process executing {p} died (exit code {proc.exitcode}); the notebook did not finish")
                r = json.loads(Path(f).read_text())
                if not r['ok']: raise BuildError(failure_message(r))
                log(f"  executed {Path(r['path']).name} in {r['seconds']:.0f} s")
                results[r['path']] = r
    except BaseException:
        for proc in running: proc.terminate()   # the worker kills its kernel and exits
        for proc in running:
            proc.join(10)
            if proc.is_alive(): proc.kill(); proc.join()
        raise
    finally: shutil.rmtree(tmpd, ignore_errors=True)
    return results

# ---------------------------------------------------------------------------------------------------------------------
# API entries (what `show_doc` shows)

def _fmt_anno(a)->str:
    if a is inspect.Parameter.empty or a is None or a is type(None): return ''
    if isinstance(a, str): return a
    return getattr(a, '__qualname__', None) or str(a).replace('typing.', '')

def _fmt_default(d)->str:
    if d is inspect.Parameter.empty: return ''
    s = getattr(d, '__name__', None) if inspect.isclass(d) or inspect.isfunction(d) else None
    s = s or repr(d)
    return s if len(s) <= 60 else s[:57] + '...'

def _md(text:str)->str:
    from nbconvert.filters.markdown_mistune import markdown2html_mistune
    return markdown2html_mistune(text or '')

def _signature(obj)->str:
    try: sig = inspect.signature(obj)
    except (TypeError, ValueError): return '(...)'
    parts = []
    for p in sig.parameters.values():
        if p.name == 'self': continue
        s = ('*' if p.kind == p.VAR_POSITIONAL else '**' if p.kind == p.VAR_KEYWORD else '') + p.name
        if p.annotation is not p.empty: s += ':' + _fmt_anno(p.annotation)
        if p.default is not p.empty: s += '=' + _fmt_default(p.default)
        parts.append(s)
    ret = '' if sig.return_annotation is sig.empty else '->' + _fmt_anno(sig.return_annotation)
    return f"({', '.join(parts)}){ret}"

def param_rows(obj)->list:
    "Rows (name, type, default, details) of `obj`'s parameters and return value: the signature, with fastcore's docments"
    from fastcore.docments import docments
    def docs(f):
        try: return docments(f, full=True)
        except Exception: return {}
    d = docs(obj)
    target = obj.__init__ if inspect.isclass(obj) else obj
    for f in (getattr(target, '__delwrap__', None), getattr(obj, '__delwrap__', None)):   # fastcore `@delegates`: the docs of the callee
        if f is not None: d = {**{k: v for k, v in docs(f).items() if k != 'return'}, **d}
    try: params = [p for p in inspect.signature(obj).parameters.values() if p.name != 'self']
    except (TypeError, ValueError): params = []
    rows = []
    for p in params:
        v = d.get(p.name) if isinstance(d.get(p.name), dict) else {}
        anno = p.annotation if p.annotation is not p.empty else v.get('anno', p.empty)
        name = ('*' if p.kind == p.VAR_POSITIONAL else '**' if p.kind == p.VAR_KEYWORD else '') + p.name
        rows.append((html.escape(name), _fmt_anno(anno), _fmt_default(p.default), v.get('docment') or ''))
    r = d.get('return') if isinstance(d.get('return'), dict) else {}
    if r.get('docment') or r.get('anno') not in (None, inspect.Parameter.empty):
        rows.append(('<em>returns</em>', _fmt_anno(r.get('anno')), '', r.get('docment') or ''))
    return rows

def api_entry(name:str, obj, module:str)->str:
    "The HTML of one API entry: heading with anchor, signature, docstring, parameter table (and methods of a class)"
    if inspect.isclass(obj): kind, sig = 'class', _signature(obj)
    elif callable(obj): kind, sig = 'function', _signature(obj)
    else: kind, sig = 'constant', None
    out = [f'<section class="api" id="{html.escape(name)}">',
           f'<h3 class="api-name"><a class="anchor" href="#{html.escape(name)}">{html.escape(name)}</a> <span class="api-kind">{kind}</span></h3>']
    if sig is not None:
        out.append(f'<pre class="api-sig"><code>{html.escape(name.split(".")[-1] + sig)}</code></pre>')
        out.append(f'<div class="api-doc">{_md(inspect.getdoc(obj) if not inspect.isclass(obj) or obj.__doc__ else "")}</div>')
        rows = param_rows(obj)
        if rows:
            out.append('<table class="params"><thead><tr><th>parameter</th><th>type</th><th>default</th><th>details</th></tr></thead><tbody>')
            out += [f'<tr><td><code>{n}</code></td><td>{html.escape(t)}</td><td><code>{html.escape(dflt)}</code></td><td>{_md(doc)}</td></tr>'
                    for n, t, dflt, doc in rows]
            out.append('</tbody></table>')
        if inspect.isclass(obj):
            meths = [(k, v) for k, v in vars(obj).items() if not k.startswith('_') and inspect.isfunction(v) and v.__doc__]
            if meths:
                out.append('<table class="methods"><thead><tr><th>method</th><th>details</th></tr></thead><tbody>')
                out += [f'<tr><td><code>{html.escape(k + _signature(v))}</code></td><td>{_md(inspect.getdoc(v))}</td></tr>' for k, v in meths]
                out.append('</tbody></table>')
    else:
        r = repr(obj)
        out.append(f'<pre class="api-sig"><code>{html.escape(name)} = {html.escape(r if len(r) <= 300 else r[:297] + "...")}</code></pre>')
    out.append('</section>')
    return '\n'.join(out)

def defined_names(source:str)->list:
    "(name, patched_class) of the top-level functions, classes and assignments in `source`; `@patch`ed methods carry their class"
    try: tree = ast.parse(strip_directives(source))
    except SyntaxError: return []
    out = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            decs = [d.func if isinstance(d, ast.Call) else d for d in node.decorator_list]
            if any(isinstance(d, ast.Name) and d.id in ('patch', 'patch_to') for d in decs) and node.args.args:
                a = node.args.args[0].annotation
                cls = a.id if isinstance(a, ast.Name) else a.value if isinstance(a, ast.Constant) else None
                if cls: out.append((node.name, cls)); continue
            out.append((node.name, None))
        elif isinstance(node, ast.ClassDef): out.append((node.name, None))
        elif isinstance(node, ast.Assign):
            out += [(t.id, None) for t in node.targets if isinstance(t, ast.Name)]
            out += [(e.id, None) for t in node.targets if isinstance(t, ast.Tuple) for e in t.elts if isinstance(e, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name): out.append((node.target.id, None))
    return out

# ---------------------------------------------------------------------------------------------------------------------
# Pages

def nb_title(nb)->tuple:
    "(title, summary) of a notebook: its first markdown H1 and the `>` line after it"
    for c in nb.cells:
        if c.cell_type != 'markdown': continue
        m = re.search(r'^#\s+(.+?)\s*$', c.source, re.M)
        if m:
            s = re.search(r'^>\s*(.+?)\s*$', c.source[m.end():], re.M)
            return _plain(m.group(1)), (s.group(1) if s else '')
    return None, ''

def _plain(md:str)->str: return re.sub(r'[`*_]', '', md)

def page_module(name:str)->str:
    "The module a page holds, by nbdev's naming: `10_gap` → `gap`"
    return re.sub(r'^\d+_', '', name)

def section_of(name:str)->int:
    "The index in SECTIONS of page `name`'s sidebar section"
    return next(i for i, (_, m) in enumerate(SECTIONS) if (page_module(name) in m if isinstance(m, tuple) else re.match(m, name)))

def sidebar(pages:list, current:str, project:str)->str:
    "The sidebar HTML: pages grouped in SECTIONS' order, `current` marked"
    out = [f'<nav class="sidebar"><a class="brand" href="index.html">{html.escape(project)}</a>']
    for si, (title, _) in enumerate(SECTIONS):
        items = [p for p in pages if p['section'] == si]
        if not items: continue
        if title: out.append(f'<div class="section">{html.escape(title)}</div>')
        out.append('<ul>')
        for p in items:
            cls = ' class="current"' if p['name'] == current else ''
            label = 'Home' if p['name'] == 'index' else p['title']
            out.append(f'<li><a{cls} href="{p["name"]}.html">{html.escape(label)}</a></li>')
        out.append('</ul>')
    out.append('</nav>')
    return '\n'.join(out)

def _lib_name()->str:
    cfg = ConfigParser(delimiters=['=']); cfg.read(ROOT/'settings.ini', encoding='utf-8')
    return cfg['DEFAULT'].get('lib_name', 'fastai_remedies') if 'DEFAULT' in cfg else 'fastai_remedies'

def link_pages(md:str)->str:
    "Markdown links to notebooks point at their pages: `(10_gap.ipynb#x)` and `(nbs/10_gap.ipynb)` (as README.md has them) → `(10_gap.html#x)`"
    return re.sub(r'\]\((?:\./)?(?:nbs/)?([\w./-]+)\.ipynb(#[^)]*)?\)', lambda m: f"]({m.group(1)}.html{m.group(2) or ''})", md)

def html_cell(block:str):
    "A code cell showing only the HTML `block` (nbconvert sanitises raw cells, not outputs)"
    import nbformat
    return nbformat.v4.new_code_cell('', metadata={'tags': ['remove_input']},
                                     outputs=[nbformat.v4.new_output('display_data', data={'text/html': block})])

def prepare(nb, lib:str)->tuple:
    "A copy of executed `nb` ready for nbconvert: hidden cells dropped, directives stripped, export cells replaced by API entries; (nb, symbols)"
    import copy, nbformat
    nb = copy.deepcopy(nb)
    mod_name = next((directives(c.source)['default_exp'] for c in nb.cells if c.cell_type == 'code' and 'default_exp' in directives(c.source)), None)
    mod = importlib.import_module(f"{lib}.{mod_name}") if mod_name else None
    public = set(getattr(mod, '__all__', [])) if mod else set()
    cells, symbols, shown = [], [], set()
    for c in nb.cells:
        d = directives(c.source) if c.cell_type == 'code' else {}
        if c.cell_type == 'raw': continue
        if 'hide' in d or 'default_exp' in d or d.get('include', '') and _false(d['include']): continue
        if c.cell_type == 'markdown':
            c.source = link_pages(c.source)
            cells.append(c); continue
        if c.cell_type != 'code': continue
        c.source = strip_directives(c.source)
        if _false(d.get('echo', 'true')): c.metadata.setdefault('tags', []).append('remove_input')
        if _false(d.get('output', 'true')): c.outputs = []
        if mod is not None and any(k in d for k in ('export', 'exports', 'exporti')):
            entries = []
            for name, cls in defined_names(c.source):
                if cls is not None:
                    owner = getattr(mod, cls, None) or getattr(importlib.import_module('builtins'), cls, None)
                    obj, full = getattr(owner, name, None), f"{cls}.{name}"
                    if obj is None or name.startswith('_'): continue
                elif name in public: obj, full = getattr(mod, name), name
                else: continue
                entries.append(api_entry(full, obj, mod.__name__)); symbols.append(full); shown.add(name)
            if not entries: continue   # imports and private helpers: nbdev's docs do not show them either
            src = html.escape(c.source)
            block = '\n'.join(entries) + (f'<details class="source"><summary>source</summary><pre><code>{src}</code></pre></details>'
                                          if 'exporti' not in d else '')
            cells.append(html_cell(block))
            if c.outputs: c.source = ''; c.metadata.setdefault('tags', []).append('remove_input'); cells.append(c)
            continue
        cells.append(c)
    rest = [n for n in getattr(mod, '__all__', []) if n not in shown] if mod else []
    if rest:
        cells.append(nbformat.v4.new_markdown_cell('## More API'))
        cells.append(html_cell('\n'.join(api_entry(n, getattr(mod, n), mod.__name__) for n in rest)))
        symbols += rest
    if symbols:
        rows = '\n'.join(f'<tr><td><a href="#{html.escape(s)}"><code>{html.escape(s)}</code></a></td></tr>' for s in symbols)
        cells.append(nbformat.v4.new_markdown_cell('## API index'))
        cells.append(html_cell(f'<p>Every exported symbol of <code>{mod.__name__}</code>, as documented above:</p>'
                               f'<table class="api-index"><tbody>{rows}</tbody></table>'))
    nb.cells = cells
    return nb, symbols

def render_body(nb, folder:Path)->str:
    "The HTML body of prepared notebook `nb` (nbconvert's basic template, images embedded, no prompts)"
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor
    from traitlets.config import Config
    cfg = Config()
    cfg.TagRemovePreprocessor.remove_input_tags = {'remove_input'}
    cfg.TagRemovePreprocessor.enabled = True
    cfg.HTMLExporter.preprocessors = ['nbconvert.preprocessors.TagRemovePreprocessor']
    ex = HTMLExporter(config=cfg, template_name='basic', embed_images=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = ex.from_notebook_node(nb, resources={'metadata': {'path': str(folder)}})   # images relative to the notebook
    return body

def link_symbols(body:str, index:dict, current:str)->str:
    "Inline `code` naming an exported symbol becomes a link to its API entry"
    def sub(m):
        name = html.unescape(m.group(1)).rstrip('()')
        if name not in index or re.search(r'<pre[^>]*>$', m.string[max(0, m.start() - 40):m.start()]): return m.group(0)
        page, full = index[name]
        href = f"#{full}" if page == current else f"{page}.html#{full}"
        return f'<a class="sym" href="{html.escape(href)}">{m.group(0)}</a>'
    return re.sub(r'<code>([\w.]+(?:\(\))?)</code>', sub, body)

def _css()->str:
    from pygments.formatters import HtmlFormatter
    return (Path(__file__).with_name('docs.css').read_text(encoding='utf-8') + '\n' +
            HtmlFormatter(style='default').get_style_defs('.highlight'))

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="data:,">
<style>
{css}
</style>
</head>
<body>
{sidebar}
<main>
{body}
<footer>Generated by <code>make docs</code> from <code>nbs/{name}.ipynb</code>, executed.</footer>
</main>
</body>
</html>
"""

def page_title(p:dict, project:str)->str:
    "The HTML title of page `p`: the project name on the index, else the notebook's H1 and the project"
    return project if p['name'] == 'index' else f"{p['title']} - {project}"

def _sha(b:bytes)->str:
    import hashlib
    return hashlib.sha256(b).hexdigest()[:16]

def source_key(nbs:Path)->str:
    "A hash of the library's source files: executed notebooks are reused (`--reuse`) only while it and the notebook are unchanged"
    lib = ROOT/_lib_name()
    return _sha(b''.join(f.read_bytes() for f in sorted(lib.rglob('*.py')))) if lib.exists() else ''

def build(nbs:Path, out:Path, workers:int=2, timeout:int=900, reuse:bool=False, log=print)->dict:
    """Execute and render every notebook of `nbs` into `out`, atomically: {'pages', 'seconds'}; raises BuildError on failure.
    `reuse`: skip executing notebooks whose last executed copy came from the same notebook and library source (for work on the rendering)"""
    import nbformat
    start = time.perf_counter()
    nbs, out = Path(nbs).resolve(), Path(out).resolve()
    paths = sorted(p for p in nbs.rglob('*.ipynb') if not any(part.startswith(('.', '_')) for part in p.relative_to(nbs).parts))
    if not paths: raise BuildError(f"make docs: no notebooks in {nbs}")
    names = [p.relative_to(nbs).with_suffix('').as_posix().replace('/', '_') for p in paths]
    if len(set(names)) != len(names): raise BuildError("make docs: two notebooks map to the same page name")
    old_timings = {}
    try: old_timings = json.loads((out/'timings.json').read_text())
    except (OSError, ValueError): pass
    cache = out.parent/f'.{out.name}-executed'   # every executed notebook, with the hash of what produced it
    key = source_key(nbs)
    results = {}
    if reuse:
        for p in paths:
            c = cache/f"{p.stem}.ipynb"
            if c.exists() and json.loads(c.read_text()).get('metadata', {}).get('docs_key') == key + _sha(p.read_bytes()):
                results[str(p)] = dict(ok=True, path=str(p), nb=c.read_text(), seconds=old_timings.get(p.name, 0.))
        if results: log(f"make docs: reusing {len(results)} executed notebooks (--reuse; sources unchanged)")
    todo = [p for p in paths if str(p) not in results]
    if todo:
        log(f"make docs: executing {len(todo)} notebooks ({workers} at a time)")
        results.update(execute_all(todo, workers=workers, timeout=timeout, order=old_timings, log=log))
    cache.mkdir(exist_ok=True)
    for p in todo:
        nb = json.loads(results[str(p)]['nb']); nb.setdefault('metadata', {})['docs_key'] = key + _sha(p.read_bytes())
        (cache/f"{p.stem}.ipynb").write_text(json.dumps(nb))
    lib, project = _lib_name(), _lib_name()
    pages = []
    for p, name in zip(paths, names):
        nb = nbformat.reads(results[str(p)]['nb'], as_version=4)
        title, summary = nb_title(nb)
        pages.append(dict(name=name, path=p, nb=nb, title=title or name, summary=summary, section=section_of(name)))
    pages.sort(key=lambda p: (p['section'], p['name']))
    tmp = Path(tempfile.mkdtemp(prefix=f'.{out.name}-build-', dir=out.parent))
    os.chmod(tmp, 0o755)
    try:
        index, bodies, prepared = {}, {}, {}
        for p in pages:
            try: prepared[p['name']], syms = prepare(p['nb'], lib)
            except Exception as e: raise BuildError(f"make docs: {p['path']} executed, but its API could not be rendered: {type(e).__name__}: {e}") from e
            for s in syms: index.setdefault(s, (p['name'], s))
        for s, (page, _) in list(index.items()):   # `overfit_check` and `learn.overfit_check` name `Learner.overfit_check` too
            if '.' in s:
                for short in (s.split('.', 1)[1], 'learn.' + s.split('.', 1)[1]): index.setdefault(short, (page, s))
        for p in pages: bodies[p['name']] = render_body(prepared[p['name']], p['path'].parent)
        css = _css()
        for p in pages:
            body = link_symbols(bodies[p['name']], index, p['name'])
            (tmp/f"{p['name']}.html").write_text(PAGE.format(title=html.escape(page_title(p, project)), css=css, name=p['name'],
                                                              sidebar=sidebar(pages, p['name'], project), body=body), encoding='utf-8')
        if not (tmp/'index.html').exists(): raise BuildError(f"make docs: no index.ipynb in {nbs}: the site needs a front page")
        timings = {Path(k).name: round(v['seconds'], 1) for k, v in results.items()}
        (tmp/'timings.json').write_text(json.dumps(timings, indent=1))
        (tmp/'pages.json').write_text(json.dumps([dict(name=p['name'], title=page_title(p, project), notebook=str(p['path'].relative_to(nbs)),
                                                       symbols=[s for s, (n, full) in index.items() if n == p['name'] and s == full]) for p in pages], indent=1))
        swap(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dict(pages=[p['name'] for p in pages], seconds=time.perf_counter() - start)

def swap(new:Path, out:Path):
    "Replace folder `out` by `new` (same file system): renames only, so a reader sees the old site or the new one"
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f'.{out.name}-old-', dir=out.parent))
        os.rename(out, old/out.name)
    try: os.rename(new, out)
    except BaseException:
        if old is not None: os.rename(old/out.name, out)
        raise
    if old is not None: shutil.rmtree(old, ignore_errors=True)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--nbs', default=str(ROOT/'nbs'), help='folder of notebooks (default: nbs)')
    p.add_argument('--out', default=str(ROOT/'_docs'), help='site folder (default: _docs)')
    p.add_argument('--workers', type=int, default=2, help='notebooks executed at once (default: 2)')
    p.add_argument('--timeout', type=int, default=900, help='seconds per cell (default: 900)')
    p.add_argument('--reuse', action='store_true', help='reuse executed notebooks whose notebook and library source are unchanged '
                   '(for work on the rendering; make docs and make test execute everything)')
    a = p.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))   # cleaned up like Ctrl-C: workers stopped, temporary site removed
    try: r = build(Path(a.nbs), Path(a.out), workers=a.workers, timeout=a.timeout, reuse=a.reuse)
    except BuildError as e:
        print(str(e), file=sys.stderr)
        print(f"make docs: {a.out} left as it was", file=sys.stderr)
        return 1
    print(f"make docs: {len(r['pages'])} pages in {a.out} ({r['seconds']:.0f} s)")
    return 0

if __name__ == '__main__': sys.exit(main())
