"""The rendered documentation (`make docs` → `_docs/`) in a real browser: Debian's Chromium, headless, driven by selenium.

Installs what it needs when it is missing (as root: `apt-get install chromium chromium-driver`; `pip install selenium`),
serves `_docs/` on 127.0.0.1 and opens every page. For each page: the title, every image loaded (non-zero natural size),
no console errors, nothing fetched from anywhere but the local server (no CDN), a screenshot that is not blank. Across
the site: every notebook has its page, no broken internal links (pages and anchors), the sidebar in the ladder's order,
and an API entry (signature, parameter table) for every exported symbol. Run `make docs` first (`make test` does).
"""
import ast, functools, http.server, io, json, os, re, shutil, subprocess, sys, threading
from pathlib import Path
from urllib.parse import urlparse, unquote
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = Path(os.environ.get('DOCS_DIR', ROOT/'_docs'))
NBS, LIB, PROJECT = Path(os.environ.get('DOCS_NBS', ROOT/'nbs')), ROOT/'fastai_remedies', 'fastai_remedies'
# The sidebar's order: the front page; the rungs' pages in ladder order, each under the first rung of the registry
# (`fastai_remedies.rungs`) that names its module; the whole ladder; data, the command, the tutorials, anything else.
# An entry is a tuple of module names (page `NN_mod` holds module `mod`) or a pattern on the page name.
from fastai_remedies.rungs import docs_sections
LADDER_ORDER = ((r'index$',) + tuple(mods for _, mods in docs_sections()) + (('rungs', 'ladder'), r'0\d', r'6\d', r'\d+_tutorial', r''))

def ladder_rank(page:str)->int:
    mod = re.sub(r'^\d+_', '', page)
    return next(i for i, o in enumerate(LADDER_ORDER) if (mod in o if isinstance(o, tuple) else re.match(o, page)))
# The rungs' own pages (mixing, hidden mixing, architecture, AWD, the ladder) and the tutorials: each shows figures computed when it ran
FIGURE_PAGES = r'(\d+_(mix|manifold|arch|awd|ladder)$|\d+_tutorial)'

def notebooks()->dict:
    "{page name: (notebook path, expected title)} for every notebook of nbs/, read from the notebooks themselves"
    out = {}
    for p in sorted(NBS.rglob('*.ipynb')):
        rel = p.relative_to(NBS)
        if any(part.startswith(('.', '_')) for part in rel.parts): continue
        cells = json.loads(p.read_text(encoding='utf-8'))['cells']
        h1 = next((m.group(1) for c in cells if c['cell_type'] == 'markdown'
                   for m in [re.search(r'^#\s+(.+?)\s*$', ''.join(c['source']), re.M)] if m), None)
        name = rel.with_suffix('').as_posix().replace('/', '_')
        out[name] = (p, PROJECT if name == 'index' else f"{re.sub(r'`|[*][*]', '', h1 or name)} - {PROJECT}")
    return out

PAGES = notebooks()

def exported(module:str)->list:
    "`__all__` of a generated module, read without importing it"
    tree = ast.parse((LIB/f'{module}.py').read_text(encoding='utf-8'))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == '__all__' for t in node.targets):
            return ast.literal_eval(node.value)
    return []

def default_exp(nb:Path):
    for c in json.loads(nb.read_text(encoding='utf-8'))['cells']:
        m = re.match(r'\s*#\s*\|\s*default_exp\s+(\S+)', ''.join(c['source'])) if c['cell_type'] == 'code' else None
        if m: return m.group(1)

def ensure_browser():
    "Chromium and chromedriver from Debian, installed with apt-get (as root) when missing; selenium from pip when missing"
    if not (shutil.which('chromium') and shutil.which('chromedriver')):
        if os.geteuid() != 0 or not shutil.which('apt-get'):
            pytest.fail("Chromium is missing: run `apt-get install -y --no-install-recommends chromium chromium-driver` as root "
                        "(.ci/run does) and run the test again")
        env = {**os.environ, 'DEBIAN_FRONTEND': 'noninteractive'}
        cmd = ['apt-get', 'install', '-y', '--no-install-recommends', 'chromium', 'chromium-driver']
        if subprocess.run(cmd, env=env).returncode != 0:
            subprocess.run(['apt-get', 'update'], env=env, check=True)
            subprocess.run(cmd, env=env, check=True)
    try: import selenium  # noqa: F401
    except ImportError: subprocess.run([sys.executable, '-m', 'pip', 'install', 'selenium'], check=True)

class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass

@pytest.fixture(scope='module')
def site():
    "Serve _docs/ locally, open every page in headless Chromium; {page name: what the browser saw}"
    if not (DOCS/'index.html').exists(): pytest.fail(f"{DOCS} has no index.html: run `make docs` first")
    ensure_browser()
    os.environ['SE_OFFLINE'] = 'true'   # selenium must not download a driver: Debian's is used
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(_Quiet, directory=str(DOCS)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{srv.server_address[1]}"
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which('chromium')
    for a in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--window-size=1280,900',
              '--no-first-run', '--disable-extensions', '--disable-background-networking', '--disable-component-update',
              '--disable-sync', '--disable-default-apps', '--no-default-browser-check'):
        opts.add_argument(a)
    opts.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    driver = webdriver.Chrome(service=Service(shutil.which('chromedriver')), options=opts)
    seen = {}
    try:
        for name in PAGES:
            if not (DOCS/f'{name}.html').exists(): continue
            driver.get(f"{origin}/{name}.html")
            seen[name] = dict(
                title=driver.title,
                h1=driver.execute_script("const h = document.querySelector('main h1'); return h ? h.textContent.replace('¶', '').trim() : null"),
                images=driver.execute_script("return Array.from(document.images).map(i => [i.src.slice(0, 30), i.complete, i.naturalWidth, i.naturalHeight])"),
                links=driver.execute_script("return Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"),
                ids=set(driver.execute_script("return Array.from(document.querySelectorAll('[id]')).map(e => e.id)")),
                resources=driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)"),
                sidebar=driver.execute_script("return Array.from(document.querySelectorAll('nav.sidebar li a')).map(a => a.getAttribute('href'))"),
                api=driver.execute_script("""return Object.fromEntries(Array.from(document.querySelectorAll('section.api')).map(
                        s => [s.id, [!!s.querySelector('pre.api-sig'), !!s.querySelector('table.params'), s.querySelector('.api-kind').textContent]]))"""),
                console=[e for e in driver.get_log('browser') if e['level'] == 'SEVERE'],
                screenshot=driver.get_screenshot_as_png())
            shots = DOCS/'_screenshots'   # for review (not committed: _docs is git-ignored): the top of the page, and its first figure
            shots.mkdir(exist_ok=True)
            (shots/f'{name}.png').write_bytes(seen[name]['screenshot'])
            if driver.execute_script("const i = Array.from(document.images).find(i => i.src.startsWith('data:image/png'));"
                                     "if (i) i.scrollIntoView(); return !!i"):
                (shots/f'{name}-figure.png').write_bytes(driver.get_screenshot_as_png())
            if os.environ.get('DOCS_SCREENSHOTS'):   # a folder to keep the screenshots in, for a human to look at
                Path(os.environ['DOCS_SCREENSHOTS']).mkdir(parents=True, exist_ok=True)
                (Path(os.environ['DOCS_SCREENSHOTS'])/f'{name}.png').write_bytes(seen[name]['screenshot'])
    finally:
        driver.quit(); srv.shutdown()
    return dict(origin=origin, pages=seen)

def test_every_notebook_has_a_page():
    missing = [n for n in PAGES if not (DOCS/f'{n}.html').exists()]
    assert not missing, f"no page in {DOCS} for notebook(s) {missing}: run `make docs`"
    built = {p['notebook'] for p in json.loads((DOCS/'pages.json').read_text())}
    assert built == {str(p.relative_to(NBS)) for p, _ in PAGES.values()}, "_docs/ was built from other notebooks: run `make docs`"

@pytest.mark.parametrize('name', list(PAGES))
def test_page(site, name):
    page = site['pages'][name]
    assert page['title'] == PAGES[name][1]
    assert page['h1'], f"{name}.html has no title heading"
    bad = [i for i in page['images'] if not (i[1] and i[2] > 0 and i[3] > 0)]
    assert not bad, f"{name}.html: image(s) not loaded: {bad}"
    assert not page['console'], f"{name}.html: console errors: {page['console']}"
    foreign = [r for r in page['resources'] if not r.startswith((site['origin'], 'data:'))]
    assert not foreign, f"{name}.html fetched from the network: {foreign}"
    from PIL import Image, ImageStat
    img = Image.open(io.BytesIO(page['screenshot'])).convert('L')
    assert img.size[0] > 0 and ImageStat.Stat(img).stddev[0] > 10, f"{name}.html: the screenshot is blank"
    assert len(img.getcolors(maxcolors=1 << 16) or range(1 << 16)) > 16, f"{name}.html: the screenshot is blank"

def test_no_external_resources_in_html():
    "No page refers to a script, stylesheet, font or image on another host (they would be fetched at view time)"
    for name in PAGES:
        text = (DOCS/f'{name}.html').read_text(encoding='utf-8')
        assert '<script' not in text, f"{name}.html has a script"
        assert not re.search(r'''(?:src|href)\s*=\s*["'](?:https?:)?//[^"']+\.(?:js|css|woff2?|ttf|png|svg|jpg)''', text), name
        assert '@import' not in text and 'url(http' not in text, name

def test_internal_links(site):
    broken = []
    for name, page in site['pages'].items():
        for href in page['links']:
            u = urlparse(href)
            if f"{u.scheme}://{u.netloc}" != site['origin']: continue
            target = unquote(u.path.lstrip('/')) or 'index.html'
            tname = target[:-5] if target.endswith('.html') else None
            if tname not in site['pages']: broken.append(f"{name}.html → {href} (no such page)")
            elif u.fragment and not {u.fragment, unquote(u.fragment)} & site['pages'][tname]['ids']:   # as the browser matches it: as is, then decoded
                broken.append(f"{name}.html → {href} (no such anchor)")
    assert not broken, "broken links:\n" + '\n'.join(broken)

def test_sidebar_in_ladder_order(site):
    for name, page in site['pages'].items():
        hrefs = [h[:-5] for h in page['sidebar']]
        assert sorted(hrefs) == sorted(PAGES), f"{name}.html: the sidebar lists {hrefs}"
        ranks = [ladder_rank(h) for h in hrefs]
        assert ranks == sorted(ranks) and hrefs[0] == 'index', f"{name}.html: the sidebar is not in the ladder's order: {hrefs}"

def test_api_for_every_exported_symbol(site):
    for name, (nb, _) in PAGES.items():
        mod = default_exp(nb)
        if mod is None: continue
        api = site['pages'][name]['api']
        for sym in exported(mod):
            assert sym in api, f"{name}.html has no API entry for {mod}.{sym}"
            has_sig, has_params, kind = api[sym]
            assert has_sig, f"{name}.html: {sym} has no signature"
            if kind in ('function', 'class'):
                # a parameter table whenever the signature has parameters (docments, as show_doc shows them)
                assert has_params or re.search(r'\(\)', (DOCS/f'{name}.html').read_text()), f"{name}.html: {sym} has no parameter table"

def test_plots_embedded(site):
    "Pages of notebooks that plot show their figures (data URIs); tutorials and the index always plot"
    for name, (nb, _) in PAGES.items():
        if name == 'index' or '_tutorial' in name:
            assert any(i[0].startswith('data:image/') for i in site['pages'][name]['images']), f"{name}.html shows no plot"

def test_rung_pages_show_figures(site):
    "Every rung page and tutorial shows at least one figure (a PNG computed when the notebook ran) that the browser loaded"
    pages = [n for n in PAGES if re.match(FIGURE_PAGES, n)]
    assert pages, f"no rung page among {list(PAGES)}"
    for name in pages:
        figs = [i for i in site['pages'][name]['images'] if i[0].startswith('data:image/png')]
        assert figs, f"{name}.html shows no figure"
        assert all(i[1] and i[2] > 0 and i[3] > 0 for i in figs), f"{name}.html: a figure did not load: {figs}"
        assert (DOCS/'_screenshots'/f'{name}-figure.png').stat().st_size > 0, f"no screenshot of {name}.html's first figure"
