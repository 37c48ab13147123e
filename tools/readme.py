"""Write README.md from nbs/index.ipynb, or with --check fail when they differ.

nbdev's own `nbdev-readme` renders through Quarto, which cannot be installed offline, so we use
nbconvert's Markdown exporter (pure Python). Cells flagged `#| hide` are left out and nbdev
directives (`#| ...`) are stripped, as the docs site does.
"""
import sys, copy
from pathlib import Path
import nbformat
from nbconvert import MarkdownExporter

ROOT = Path(__file__).resolve().parents[1]
HEADER = "<!-- Generated from nbs/index.ipynb by `make readme`; edit the notebook, not this file. -->\n\n"

def render(nb_path=ROOT/'nbs'/'index.ipynb') -> str:
    nb = nbformat.read(nb_path, as_version=4)
    cells = []
    for c in nb.cells:
        lines = c.source.splitlines()
        if c.cell_type == 'code':
            if any(l.strip().replace(' ', '') in ('#|hide', '#|exporti', '#|export') for l in lines): continue
            c = copy.deepcopy(c)
            c.source = '\n'.join(l for l in lines if not l.lstrip().startswith('#|')).strip()
            if not c.source: continue
        cells.append(c)
    nb.cells = cells
    body, _ = MarkdownExporter(exclude_output=True).from_notebook_node(nb)
    return HEADER + body.strip() + '\n'

def main():
    text, readme = render(), ROOT/'README.md'
    if '--check' in sys.argv:
        if not readme.exists() or readme.read_text() != text:
            sys.exit("README.md differs from nbs/index.ipynb: run `make readme` and commit README.md.")
        print("README.md matches nbs/index.ipynb.")
    else:
        readme.write_text(text)
        print(f"wrote {readme.relative_to(ROOT)}")

if __name__ == '__main__': main()
