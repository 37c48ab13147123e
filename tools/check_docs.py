"""The docs site's configuration: the library notebooks and a "Lessons" section, rendered without executing (issue #20).

`nbdev-docs` renders the notebooks under `nbs/` with Quarto. The lessons live in `lessons/`, so the docs workflow
stages copies of them into `nbs/lessons/` (ignored by git) before `nbdev-docs`, and the committed configuration
makes them a section of the site that shows their committed outputs:
- `nbs/_quarto.yml`: nbdev's own template plus `execute: enabled: false` (Quarto never runs a notebook);
- `nbs/sidebar.yml`: what nbdev's `nbdev_sidebar` generates for `nbs/`, plus a "Lessons" section listing every
  lesson in order (`custom_sidebar = true` in pyproject.toml, so nbdev-docs keeps it);
- nbdev's own processing of each lesson (what `nbdev-docs` does before Quarto) executes no cell (a lesson exports
  and documents nothing, so nbdev's `exec_show_docs` skips it) and keeps every committed output.

`python tools/check_docs.py`          check all that, and that docs.yaml stages the lessons and does not run them;
`python tools/check_docs.py --write`  regenerate nbs/sidebar.yml (make export runs it);
`python tools/check_docs.py --stage`  copy lessons/*.ipynb into nbs/lessons/ for nbdev-docs (docs.yaml runs it).
Quarto itself cannot run offline; the docs workflow renders the site.
"""
import io, os, re, sys, copy, shutil, argparse, contextlib, tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS, LESSONS, STAGE = ROOT/'nbs', ROOT/'lessons', ROOT/'nbs'/'lessons'
MARKER = '.staged-by-check_docs'
EXECUTE_OFF = "\n\n# The lessons are rendered from their committed outputs (tools/check_docs.py); nothing is executed.\nexecute:\n  enabled: false\n"

def quarto_yml() -> str:
    "nbdev's `_quarto.yml` template with execution switched off."
    from nbdev.quarto import _quarto_yml
    return _quarto_yml.rstrip('\n') + EXECUTE_OFF

def sidebar_yml() -> str:
    "nbdev's generated sidebar for `nbs/` (the staged lessons left out) plus a 'Lessons' section with every lesson."
    import yaml
    from nbdev.quarto import nbdev_sidebar, IndentDumper
    buf = io.StringIO()
    with contextlib.chdir(ROOT), contextlib.redirect_stdout(buf):
        nbdev_sidebar.__wrapped__(path=NBS, printit=True, force=True, skip_folder_re=r'(?:^[_.]|^www\$|^lessons$)')
    side = yaml.safe_load(buf.getvalue())
    side['website']['sidebar']['contents'].append(
        {'section': 'Lessons', 'contents': [f'lessons/{p.name}' for p in sorted(LESSONS.glob('*.ipynb'))]})
    return yaml.dump(side, Dumper=IndentDumper, sort_keys=False)

def stage():
    "Copy lessons/*.ipynb into nbs/lessons/ (our own folder: only files staged before are replaced or removed)."
    if STAGE.exists() and not (STAGE/MARKER).exists():
        sys.exit(f"{STAGE} exists and was not made by this tool; move it aside, then run this again.")
    STAGE.mkdir(exist_ok=True); (STAGE/MARKER).touch()
    for old in STAGE.glob('*.ipynb'): old.unlink()
    for nb in sorted(LESSONS.glob('*.ipynb')): shutil.copy2(nb, STAGE/nb.name)
    print(f"staged {len(list(STAGE.glob('*.ipynb')))} lessons into {STAGE.relative_to(ROOT)}/ for nbdev-docs")

def processed(nb_path: Path):
    "A lesson through nbdev's docs processors (FilterDefaults), as nbdev-docs does; returns (notebook, ran_cells)."
    from fastcore.nbio import read_nb
    from nbdev.processors import FilterDefaults, exec_show_docs, _do_eval
    nb = read_nb(nb_path)
    before = copy.deepcopy(nb)
    ran = []
    orig = exec_show_docs.__call__
    def spy(self, cell):   # what nbdev would execute: exec_show_docs runs a cell through its shell `self.k`
        if getattr(self, 'k', None) is not None and self.nb.has_docs_ and _do_eval(cell): ran.append(cell.idx_)
        return orig(self, cell)
    exec_show_docs.__call__ = spy
    try:
        with contextlib.chdir(ROOT): FilterDefaults()(nb)
    finally: exec_show_docs.__call__ = orig
    return before, nb, ran

def problems() -> list[str]:
    out = []
    cfg = tomllib.loads((ROOT/'pyproject.toml').read_text()).get('tool', {}).get('nbdev', {})
    if str(cfg.get('custom_sidebar', '')).lower() != 'true':
        out.append("pyproject.toml [tool.nbdev]: custom_sidebar must be true, or nbdev-docs regenerates the sidebar without the lessons")
    for name, want, fix in (('_quarto.yml', quarto_yml(), '--write'), ('sidebar.yml', sidebar_yml(), '--write')):
        f = NBS/name
        if not f.exists() or f.read_text() != want:
            out.append(f"nbs/{name} is not what tools/check_docs.py generates: run `python tools/check_docs.py {fix}` and commit it")
    import yaml
    q = yaml.safe_load((NBS/'_quarto.yml').read_text()) if (NBS/'_quarto.yml').exists() else {}
    if (q.get('execute') or {}).get('enabled') is not False: out.append("nbs/_quarto.yml does not set execute: enabled: false")
    if 'sidebar.yml' not in (q.get('metadata-files') or []): out.append("nbs/_quarto.yml does not read sidebar.yml (metadata-files)")
    side = yaml.safe_load(sidebar_yml())['website']['sidebar']['contents']
    lessons = [s for s in side if isinstance(s, dict) and s.get('section') == 'Lessons']
    want = [f'lessons/{p.name}' for p in sorted(LESSONS.glob('*.ipynb'))]
    if not lessons or lessons[0]['contents'] != want: out.append(f"the sidebar's Lessons section does not list {want}")
    libs = [p.name for p in sorted(NBS.glob('*.ipynb'))]
    if missing := [n for n in libs if n not in side]: out.append(f"the sidebar leaves out the library notebooks {missing}")
    wf = (ROOT/'.github'/'workflows'/'docs.yaml').read_text()
    if 'run_lesson.py' in wf: out.append("docs.yaml executes lessons (run_lesson.py); the site shows their committed outputs instead")
    if not re.search(r'check_docs\.py --stage[\s\S]*nbdev-docs', wf): out.append("docs.yaml does not run `tools/check_docs.py --stage` before nbdev-docs")
    if 'nbs/lessons/' not in (ROOT/'.gitignore').read_text().split(): out.append(".gitignore does not ignore nbs/lessons/ (the staged copies)")
    for nb in sorted(LESSONS.glob('*.ipynb')):
        before, after, ran = processed(nb)
        if ran: out.append(f"{nb.name}: nbdev's docs processing would execute cells {ran}"); continue
        had = sum(1 for c in before.cells if c.cell_type == 'code' and c.get('outputs'))
        kept = sum(1 for c in after.cells if c.cell_type == 'code' and c.get('outputs'))
        if kept != had: out.append(f"{nb.name}: {had} code cells have committed outputs, {kept} after nbdev's docs processing")
        if not after.frontmatter_.get('title'): out.append(f"{nb.name}: no title for the site (a markdown cell starting with `# Title`)")
    return out

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--write', action='store_true', help="write nbs/_quarto.yml and nbs/sidebar.yml")
    ap.add_argument('--stage', action='store_true', help="copy the lessons into nbs/lessons/ for nbdev-docs")
    args = ap.parse_args(argv)
    os.environ.setdefault('MPLBACKEND', 'Agg')
    if args.stage: stage(); return 0
    if args.write:
        (NBS/'_quarto.yml').write_text(quarto_yml()); (NBS/'sidebar.yml').write_text(sidebar_yml())
        print("wrote nbs/_quarto.yml and nbs/sidebar.yml"); return 0
    out = problems()
    for line in out: print(line)
    if not out:
        n = len(list(LESSONS.glob('*.ipynb')))
        print(f"docs config OK: nbs/_quarto.yml (execute off) and nbs/sidebar.yml with a Lessons section of {n} lessons, "
              "rendered by nbdev from their committed outputs without executing a cell")
    return 1 if out else 0

if __name__ == '__main__': sys.exit(main())
