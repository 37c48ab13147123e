"""A Markdown table of the lesson runs in `_runs/*.json` (written by tools/run_lesson.py).

`python tools/runs_summary.py [folder]`: one row per lesson with whether it finished, its wall time,
budget, device and the results the lesson recorded (`record_results`). The GPU workflow appends it to the job summary.
Standard library only, so it runs even when the project's venv could not be built.
`python tools/runs_summary.py --cells [N]`: the N slowest cells (default 25) of the executed notebooks `make test`
saved in `_runs/executed/<cpu|gpu>/` (tools/exec_notebook.py records each cell's seconds), and each run's total.
"""
import sys, json
from pathlib import Path

def fmt(v):
    if isinstance(v, float): return f"{v:.4g}"
    return str(v)

def table(folder):
    runs = sorted(Path(folder).glob('*.json'))
    if not runs: return f"No lesson runs in {folder}/."
    rows = ["| lesson | finished | wall | budget | device | results |", "|---|---|---|---|---|---|"]
    for p in runs:
        try: r = json.loads(p.read_text())
        except ValueError as e:
            rows.append(f"| {p.stem} | unreadable ({e}) | | | | |"); continue
        res = r.get('results')
        res = ', '.join(f"{k}={fmt(v)}" for k, v in res.items()) if isinstance(res, dict) else ('' if res is None else fmt(res))
        status = 'yes' if r.get('ok') else f"**no**: {r.get('error') or 'error'}"
        wall = r.get('wall_s')
        rows.append(f"| {r.get('lesson', p.stem)} | {status} | {wall / 60:.1f} min | {r.get('budget', '')} | "
                    f"{r.get('device', '')} | {res.replace('|', '/')} |" if isinstance(wall, (int, float)) else
                    f"| {r.get('lesson', p.stem)} | {status} | ? | {r.get('budget', '')} | {r.get('device', '')} | {res} |")
    return '\n'.join(rows)

def slow_cells(folder='_runs/executed', n=25):
    "The `n` slowest cells of the executed notebooks under `folder`, then every run's total, slowest first."
    cells, totals = [], []
    for p in sorted(Path(folder).glob('*/*.ipynb')):
        nb, run = json.loads(p.read_text()), f"{p.parent.name}/{p.stem}"
        totals.append((nb.get('metadata', {}).get('transfervision_run', {}).get('seconds', 0), run))
        for i, c in enumerate(nb['cells']):
            if 'transfervision_seconds' in c.get('metadata', {}):
                cells.append((c['metadata']['transfervision_seconds'], run, i, ''.join(c['source']).split('\n')[0][:70]))
    out = [f"{s:7.1f} s  {run} cell {i}: {src}" for s, run, i, src in sorted(cells, reverse=True)[:n]]
    out += ['', 'runs:'] + [f"{s:7.1f} s  {run}" for s, run in sorted(totals, reverse=True)]
    return '\n'.join(out)

if __name__ == '__main__':
    if '--cells' in sys.argv:
        rest = [a for a in sys.argv[1:] if a != '--cells']
        print(slow_cells(n=int(rest[0]) if rest else 25)); sys.exit()
    print("## Lessons\n\n" + table(sys.argv[1] if len(sys.argv) > 1 else '_runs'))
