"""Execute a lesson headless: `python tools/run_lesson.py lessons/01_pets.ipynb`.

The executed notebook and an HTML copy go to `_runs/` (git-ignored), so the committed lesson
stays without outputs. The budget is picked as in the lessons: TRANSFERVISION_BUDGET, else
`full` on a GPU, else the few-minute `cpu` budget.

`_runs/<lesson>.json` records the run: wall seconds, budget, device, whether it finished, and the
lesson's `RESULTS` dict (a global the lesson may define, e.g. its accuracies), read from the kernel
by one extra cell run after the lesson's own cells (it is not kept in the saved notebook).
"""
import os, re, sys, json, time, platform
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

RESULTS_TAG = '__transfervision_run__'
# Run in the lesson's kernel after its last cell: the device it used and its RESULTS, as one JSON line.
PROBE = f'''import json as _j
def _tv_device():
    try:
        import torch
        if torch.cuda.is_available(): return torch.cuda.get_device_name(0)
        if getattr(torch.backends, 'mps', None) and torch.backends.mps.is_available(): return 'mps'
    except Exception: pass
    return 'cpu'
def _tv_plain(o):  # numpy/torch scalars -> numbers, anything else -> its str
    try: return o.item()
    except Exception: return str(o)
print({RESULTS_TAG!r} + _j.dumps({{'device': _tv_device(), 'RESULTS': globals().get('RESULTS')}}, default=_tv_plain))
'''

def read_probe(cell):
    for o in cell.get('outputs', []):
        for line in (o.get('text') or '').splitlines():
            if line.startswith(RESULTS_TAG): return json.loads(line[len(RESULTS_TAG):])
    return {}

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
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    t0, ok, error = time.time(), True, None
    ex = LessonExecutor(timeout=None, kernel_name='python3'); ex.gpu = has_gpu()
    try: ex.preprocess(nb, {'metadata': {'path': str(src.parent)}})
    except CellExecutionError as e:
        ok, error = False, re.sub(r'\x1b\[[0-9;]*m', '', str(e)).strip().splitlines()[-1:] or ['error']
        print(f"The lesson stopped with an error (the executed part is saved):\n{e}", file=sys.stderr)
    wall = time.time() - t0
    info = read_probe(nb.cells.pop())  # the probe: last cell, not kept in the saved notebook
    record = dict(lesson=src.stem, ok=ok, wall_s=round(wall, 1), budget=name, budget_why=why,
                  device=info.get('device') or ('cuda' if ex.gpu else 'cpu'), host=platform.node(),
                  results=info.get('RESULTS'), error=error[0] if error else None,
                  finished_at=time.strftime('%Y-%m-%dT%H:%M:%S%z'))
    dest = out/src.name
    dest.with_suffix('.json').write_text(json.dumps(record, indent=2, default=str) + '\n')
    nbformat.write(nb, dest)
    html, _ = HTMLExporter().from_notebook_node(nb)
    dest.with_suffix('.html').write_text(html)
    print(f"{'Finished' if ok else 'Failed'} in {wall:.0f} s: {dest}, {dest.with_suffix('.html')} and {dest.with_suffix('.json')}")
    sys.exit(0 if ok else 1)

if __name__ == '__main__': main(sys.argv[1] if len(sys.argv) > 1 else 'lessons/01_pets.ipynb')
