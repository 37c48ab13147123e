"""Check that every place naming the release names the same version (issue #20).

The one version is `__version__` in `transfervision/__init__.py` (nbdev keeps it there; `nbdev-bump-version`
changes it, and pyproject.toml reads it through `[tool.setuptools.dynamic]`). These must name it too:
- pyproject.toml: the version is dynamic from `transfervision.__version__` (or, if static, equal);
- every lesson's install cell: its `TV = '...'` line (contracts.md: `TV, PKG = '0.3.0', 'transfervision'`);
- README.md (rendered from nbs/index.ipynb): every `transfervision==X` / `transfervision[extra]==X`, at least one;
- the Hugging Face Space template (`transfervision.demo`): the requirements.txt it writes pins
  `transfervision[demo]==<version>`, and its Gradio `sdk_version` is the Gradio that constraints.txt pins and the
  `[demo]` extra accepts;
- CHANGELOG.md: its top entry (`## 0.3.0 - 2026-12-05`).
Also: no lesson, README or notebook installs from a git ref (`@v0.2.0`, `@main`) any more.

`python tools/check_version.py [--tag v0.3.0]`: one line per disagreement, exit status 1 if any.
`--tag` (the release workflow) also checks that the pushed tag is `v<version>`.
"""
import re, sys, json, argparse, tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_VERSION = re.compile(r'''^__version__\s*=\s*['"]([^'"]+)['"]''', re.M)
_TV = re.compile(r'''^TV(?:\s*,\s*\w+)*\s*=\s*['"]([^'"]+)['"]''', re.M)
_PIN = re.compile(r'''transfervision(?:\[[\w,\s-]+\])?==([\w.+-]+)''')
_GITREF = re.compile(r'''git\+https://github\.com/transfervision/transfervision[^\s'"\\]*''')

def package_version(root=ROOT) -> str:
    "`__version__` as written in transfervision/__init__.py (read, not imported)."
    m = _VERSION.search((root/'transfervision'/'__init__.py').read_text())
    if not m: raise SystemExit("transfervision/__init__.py has no __version__ line: run nbdev-export (it adds one).")
    return m.group(1)

def cell_sources(nb_path, *types):
    "(index, source) of each cell of a notebook whose type is in `types` (default: code cells)."
    nb = json.loads(Path(nb_path).read_text())
    return [(i, ''.join(c['source'])) for i, c in enumerate(nb['cells']) if c['cell_type'] in (types or ('code',))]

def problems(root=ROOT, tag=None) -> list[str]:
    v, out = package_version(root), []
    proj = tomllib.loads((root/'pyproject.toml').read_text())
    pv = proj['project'].get('version')
    dyn = proj.get('tool', {}).get('setuptools', {}).get('dynamic', {}).get('version', {}).get('attr')
    if pv is not None and pv != v: out.append(f"pyproject.toml: version = {pv!r}, but __version__ is {v!r}")
    if pv is None and dyn != 'transfervision.__version__':
        out.append(f"pyproject.toml: the version is neither static nor read from transfervision.__version__ ({dyn!r})")
    for nb in sorted((root/'lessons').glob('*.ipynb')):
        rel = nb.relative_to(root)
        tvs = [(i, m.group(1)) for i, src in cell_sources(nb) for m in _TV.finditer(src)]
        if not tvs: out.append(f"{rel}: no install cell with a `TV = '...'` line (contracts.md, item 2)")
        out += [f"{rel}: cell {i} installs TV = {t!r}, but __version__ is {v!r}" for i, t in tvs if t != v]
    readme = (root/'README.md').read_text()
    pins = _PIN.findall(readme)
    if not pins: out.append(f"README.md: no `pip install transfervision=={v}` line")
    out += [f"README.md: names transfervision=={p}, but __version__ is {v!r}" for p in sorted(set(pins)) if p != v]
    # Sources only: a lesson's committed outputs are checked by tools/check_outputs.py and remade by `make outputs`.
    texts = [(root/'README.md', readme)] + [(nb, '\n'.join(s for _, s in cell_sources(nb, 'code', 'markdown')))
                                             for nb in sorted((root/'lessons').glob('*.ipynb')) + sorted((root/'nbs').glob('*.ipynb'))]
    for f, text in texts:
        for ref in sorted(set(_GITREF.findall(text))):
            out.append(f"{f.relative_to(root)}: installs from a git ref ({ref}); install transfervision=={v} from PyPI instead")
    out += space_problems(root, v)
    cl = root/'CHANGELOG.md'
    if not cl.exists(): out.append(f"CHANGELOG.md is missing: add it with a `## {v}` entry")
    else:
        m = re.search(r'^##\s+\[?v?(\d[\w.+-]*)\]?', cl.read_text(), re.M)
        if not m: out.append(f"CHANGELOG.md has no `## <version>` entry: add `## {v}` at the top")
        elif m.group(1) != v: out.append(f"CHANGELOG.md: the top entry is {m.group(1)}, but __version__ is {v!r}: add a `## {v}` entry")
    if tag is not None and tag != f'v{v}': out.append(f"the tag is {tag!r}, but __version__ is {v!r}: tag v{v}, or bump __version__")
    return out

def space_problems(root, v) -> list[str]:
    "What the Hugging Face Space template (transfervision.demo, as exported) writes, against `v` and constraints.txt."
    sys.path.insert(0, str(root))
    try:
        from packaging.requirements import Requirement
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            import transfervision.demo as demo
    except Exception as e: return [f"transfervision.demo could not be imported to read its Space template ({type(e).__name__}: {e})"]
    out = []
    if getattr(demo, '__file__', '') and not Path(demo.__file__).resolve().is_relative_to(root.resolve()):
        return [f"imported transfervision.demo from {demo.__file__}, not from {root}: run with PYTHONPATH={root}"]
    reqs = demo.space_requirements()
    want = f"transfervision[demo]=={v}"
    if want not in reqs.split('\n'): out.append(f"the Space template's requirements.txt does not pin {want}: {reqs.strip().splitlines()[-1]!r}")
    pins = dict(l.split('==', 1) for l in (root/'constraints.txt').read_text().splitlines() if '==' in l and not l.startswith('#'))
    if demo.SPACE_GRADIO != pins.get('gradio'):
        out.append(f"the Space template's Gradio (SPACE_GRADIO = {demo.SPACE_GRADIO!r}) is not the one constraints.txt pins ({pins.get('gradio')!r})")
    extra = tomllib.loads((root/'pyproject.toml').read_text())['project']['optional-dependencies']['demo']
    g = next(Requirement(r) for r in extra if Requirement(r).name == 'gradio')
    if not g.specifier.contains(demo.SPACE_GRADIO):
        out.append(f"the Space template's Gradio {demo.SPACE_GRADIO} is outside the [demo] extra's {g}")
    if f"sdk_version: {demo.SPACE_GRADIO}" not in demo.space_readme('t', ['a', 'b'], gradio_version=demo.SPACE_GRADIO):
        out.append("the Space template's README.md does not write the sdk_version it is given")
    return out

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--tag', help="a release tag (v1.2.3) that must match __version__")
    args = ap.parse_args(argv)
    out = problems(ROOT, args.tag)
    for line in out: print(line)
    if not out: print(f"version {package_version()}: __init__, pyproject, lessons' install cells, README, Space template and CHANGELOG agree"
                      + (f", and so does the tag {args.tag}" if args.tag else ''))
    return 1 if out else 0

if __name__ == '__main__': sys.exit(main())
