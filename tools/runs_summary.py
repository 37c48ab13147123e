"""A Markdown table of the lesson runs in `_runs/*.json` (written by tools/run_lesson.py).

`python tools/runs_summary.py [folder]`: one row per lesson with whether it finished, its wall time,
budget, device and the results the lesson recorded (`record_results`). The GPU workflow appends it to the job summary.
Standard library only, so it runs even when the project's venv could not be built.
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

if __name__ == '__main__':
    print("## Lessons\n\n" + table(sys.argv[1] if len(sys.argv) > 1 else '_runs'))
