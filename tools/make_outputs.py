"""Execute the lessons in the `cpu` budget and commit-ready their outputs: `make outputs` (or
`python tools/make_outputs.py lessons/01_pets.ipynb ...`).

Lessons are committed with their outputs, so a reader sees the batches, tables and figures on GitHub,
in Colab before running, and on the docs site. This script makes those outputs reproducibly on a
laptop: the `cpu` budget (override with TRANSFERVISION_BUDGET), one lesson at a time, then
- machine paths in the outputs are replaced (the repository -> `.`, the data folder ->
  `$TRANSFERVISION_DATA`, the home folder -> `~`), so outputs don't reveal or depend on a machine;
- every code cell is stamped with a hash of its source (cell metadata `transfervision.source_sha`),
  which tools/check_outputs.py compares in CI: a lesson whose code changed since its outputs were
  made fails there until `make outputs` is run again;
- the notebook is cleaned with nbdev-clean, as every committed notebook is.
A lesson that stops with an error is left untouched and reported; the exit status is then 1.
"""
import os, re, sys, hashlib, subprocess
from pathlib import Path
import nbformat

sys.path.insert(0, str(Path(__file__).parent))
from run_lesson import ROOT, execute

def source_sha(source: str) -> str:
    "The stamp of a code cell: the first 16 hex digits of the SHA-256 of its source."
    return hashlib.sha256(source.encode()).hexdigest()[:16]

# Where Python says a warning came from, in a notebook: a kernel's temporary file (`/tmp/ipykernel_1992/4049693441.py:1: `)
KERNEL_FILE = re.compile(r'/tmp/ipykernel_\d+/\d+\.py:\d+: ')

def scrub(text: str) -> str:
    "Replace machine-specific paths in `text`; drop the kernel's temporary file name in front of a warning."
    text = KERNEL_FILE.sub('', text)
    subs = [(str(ROOT), '.'), (str(ROOT.resolve()), '.')]
    if os.environ.get('TRANSFERVISION_DATA'):
        subs.append((str(Path(os.environ['TRANSFERVISION_DATA']).resolve()), '$TRANSFERVISION_DATA'))
    subs.append((str(Path.home()), '~'))
    for a, b in sorted(subs, key=lambda s: -len(s[0])): text = text.replace(a, b)
    return text

def merge_streams(cell):
    """Join consecutive stream outputs of the same name (stdout, stderr) into one, as Jupyter shows them: a kernel may send a
    print's text and its newline as two messages, and a newline alone would be saved as an output of its own."""
    out = []
    for o in cell.get('outputs', []):
        if out and o.get('output_type') == 'stream' and out[-1].get('output_type') == 'stream' and out[-1].get('name') == o.get('name'):
            text = lambda t: t if isinstance(t, str) else ''.join(t)
            out[-1]['text'] = text(out[-1]['text']) + text(o['text'])
        else: out.append(o)
    if 'outputs' in cell: cell['outputs'] = out

def scrub_outputs(cell):
    merge_streams(cell)
    for o in cell.get('outputs', []):
        if 'text' in o: o['text'] = scrub(o['text'])
        for k, v in o.get('data', {}).items():
            if k.startswith('text/'): o['data'][k] = scrub(v) if isinstance(v, str) else [scrub(x) for x in v]

def make(src: Path) -> bool:
    print(f"{src.relative_to(ROOT)}: running ...", flush=True)
    nb, ok, error, wall, results = execute(src)
    if not ok:
        print(f"{src.relative_to(ROOT)}: FAILED after {wall:.0f} s ({error}); left unchanged", flush=True)
        return False
    for c in nb.cells:
        if c.cell_type != 'code': continue
        scrub_outputs(c)
        c.metadata['transfervision'] = {'source_sha': source_sha(c.source)}
    nbformat.write(nb, src)
    subprocess.run([str(Path(sys.executable).parent/'nbdev-clean'), '--fname', str(src)], cwd=ROOT, check=True)
    print(f"{src.relative_to(ROOT)}: {wall:.0f} s, {src.stat().st_size / 2**20:.2f} MB, results {results}", flush=True)
    return True

def main(paths):
    os.environ.setdefault('TRANSFERVISION_BUDGET', 'cpu')
    lessons = [Path(p).resolve() for p in paths] or sorted((ROOT/'lessons').glob('*.ipynb'))
    bad = [p for p in lessons if not make(p)]
    if bad: print("Failed: " + ', '.join(p.name for p in bad))
    return 1 if bad else 0

if __name__ == '__main__': sys.exit(main(sys.argv[1:]))
