"""Execute a lesson headless: `python tools/run_lesson.py lessons/01_pets.ipynb`.

The executed notebook and an HTML copy go to `_runs/` (git-ignored), so the committed lesson is
left as it is (`make outputs`, tools/make_outputs.py, is what refreshes the committed outputs). The
budget is picked as in the lessons: TRANSFERVISION_BUDGET, else `full` on a GPU, else the
few-minute `cpu` budget.

`_runs/<lesson>.json` records the run: wall seconds, budget, device, whether it finished, and the
results the lesson recorded with `transfervision.core.record_results` (its accuracies, counts).
"""
import os, re, sys, json, time, platform, tempfile
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
            cell.outputs = [nbformat.v4.new_output('stream', name='stdout', text='(skipped here: this cell is for a GPU)\n')]
            return cell, resources
        return super().preprocess_cell(cell, resources, index)

def execute(src: Path):
    "Run the lesson `src` in a fresh kernel; returns (executed notebook, ok, error line, wall seconds, recorded results)."
    from transfervision.core import has_gpu
    nb = nbformat.read(src, as_version=4)
    results_dir = tempfile.mkdtemp(prefix='tv-results-')
    old = {k: os.environ.get(k) for k in ('TRANSFERVISION_RESULTS', 'MPLBACKEND')}
    os.environ['TRANSFERVISION_RESULTS'] = results_dir
    os.environ.pop('MPLBACKEND', None)  # a non-interactive backend would keep figures out of the notebook
    t0, ok, error = time.time(), True, None
    ex = LessonExecutor(timeout=None, kernel_name='python3'); ex.gpu = has_gpu()
    try: ex.preprocess(nb, {'metadata': {'path': str(src.parent)}})
    except CellExecutionError as e:
        ok, error = False, (re.sub(r'\x1b\[[0-9;]*m', '', str(e)).strip().splitlines() or ['error'])[-1]
        print(f"{src.name} stopped with an error (the executed part is kept):\n{e}", file=sys.stderr)
    finally:
        for k, v in old.items():
            if v is None: os.environ.pop(k, None)
            else: os.environ[k] = v
    f = Path(results_dir)/f'{src.stem}.json'
    results = json.loads(f.read_text()) if f.exists() else None
    return nb, ok, error, time.time() - t0, results

def main(path):
    src = Path(path)
    if not src.exists():
        avail = ', '.join(p.stem for p in sorted((ROOT/'lessons').glob('*.ipynb')))
        sys.exit(f"No lesson {src}. Pick one of: {avail} (make lesson LESSON=<name>).")
    from transfervision.core import pick_budget_name, accelerator
    name, why = pick_budget_name()
    print(f"Running {src} with the {name!r} budget ({why}). Set TRANSFERVISION_BUDGET to choose another.")
    out = ROOT/'_runs'; out.mkdir(exist_ok=True)
    nb, ok, error, wall, results = execute(src)
    record = dict(lesson=src.stem, ok=ok, wall_s=round(wall, 1), budget=name, budget_why=why, device=accelerator(),
                  host=platform.node(), results=results, error=error, finished_at=time.strftime('%Y-%m-%dT%H:%M:%S%z'))
    dest = out/src.name
    dest.with_suffix('.json').write_text(json.dumps(record, indent=2, default=str) + '\n')
    nbformat.write(nb, dest)
    html, _ = HTMLExporter().from_notebook_node(nb)
    dest.with_suffix('.html').write_text(html)
    print(f"{'Finished' if ok else 'Failed'} in {wall:.0f} s: {dest}, {dest.with_suffix('.html')} and {dest.with_suffix('.json')}")
    sys.exit(0 if ok else 1)

if __name__ == '__main__': main(sys.argv[1] if len(sys.argv) > 1 else 'lessons/01_pets.ipynb')
