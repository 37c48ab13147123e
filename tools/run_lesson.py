"""Execute a lesson headless: `python tools/run_lesson.py lessons/01_pets.ipynb`.

The executed notebook and an HTML copy go to `_runs/` (git-ignored), so the committed lesson
stays without outputs. The budget is picked as in the lessons: TRANSFERVISION_BUDGET, else
`full` on a GPU, else the few-minute `cpu` budget.
"""
import os, re, sys, time
from pathlib import Path
import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import ExecutePreprocessor, CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
CUDA_FLAG = re.compile(r'^\s*#\|\s*cuda\s*$', re.M)

class LessonExecutor(ExecutePreprocessor):
    "Runs every cell, except `#| cuda` cells when there is no GPU (as `nbdev-test` does without `--flags cuda`)."
    gpu = False
    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == 'code' and not self.gpu and CUDA_FLAG.search(cell.source):
            cell.outputs = [nbformat.v4.new_output('stream', name='stdout', text='(skipped: this cell needs a CUDA GPU)\n')]
            return cell, resources
        return super().preprocess_cell(cell, resources, index)

def main(path):
    src = Path(path)
    if not src.exists():
        avail = ', '.join(p.stem for p in sorted((ROOT/'lessons').glob('*.ipynb')))
        sys.exit(f"No lesson {src}. Pick one of: {avail} (make lesson LESSON=<name>).")
    from transfervision.core import pick_budget_name, has_gpu
    os.environ.pop('MPLBACKEND', None)  # a non-interactive backend would keep figures out of the notebook
    name, why = pick_budget_name()
    print(f"Running {src} with the {name!r} budget ({why}). Set TRANSFERVISION_BUDGET to choose another.")
    out = ROOT/'_runs'; out.mkdir(exist_ok=True)
    nb = nbformat.read(src, as_version=4)
    t0, ok = time.time(), True
    ex = LessonExecutor(timeout=None, kernel_name='python3'); ex.gpu = has_gpu()
    try: ex.preprocess(nb, {'metadata': {'path': str(src.parent)}})
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
