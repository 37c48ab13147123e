"""Execute a lesson headless: `python tools/run_lesson.py lessons/01_pets.ipynb`.

The executed notebook and an HTML copy go to `_runs/` (git-ignored), so the committed lesson
stays without outputs. The budget is picked as in the lessons: TRANSFERVISION_BUDGET, else
`full` on a GPU, else the few-minute `cpu` budget.
"""
import sys, time
from pathlib import Path
import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import ExecutePreprocessor, CellExecutionError

ROOT = Path(__file__).resolve().parents[1]

def main(path):
    src = Path(path)
    if not src.exists():
        avail = ', '.join(p.stem for p in sorted((ROOT/'lessons').glob('*.ipynb')))
        sys.exit(f"No lesson {src}. Pick one of: {avail} (make lesson LESSON=<name>).")
    from transfervision.core import pick_budget_name
    name, why = pick_budget_name()
    print(f"Running {src} with the {name!r} budget ({why}). Set TRANSFERVISION_BUDGET to choose another.")
    out = ROOT/'_runs'; out.mkdir(exist_ok=True)
    nb = nbformat.read(src, as_version=4)
    t0, ok = time.time(), True
    try: ExecutePreprocessor(timeout=None, kernel_name='python3').preprocess(nb, {'metadata': {'path': str(src.parent)}})
    except CellExecutionError as e:
        ok = False
        print(f"The lesson stopped with an error (the executed part is saved):\n{e}", file=sys.stderr)
    dest = out/src.name
    nbformat.write(nb, dest)
    html, _ = HTMLExporter().from_notebook_node(nb)
    dest.with_suffix('.html').write_text(html)
    print(f"{'Finished' if ok else 'Failed'} in {time.time()-t0:.0f} s: {dest} and {dest.with_suffix('.html')}")
    sys.exit(0 if ok else 1)

if __name__ == '__main__': main(sys.argv[1] if len(sys.argv) > 1 else 'lessons/01_pets.ipynb')
