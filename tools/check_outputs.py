"""Check the lessons' committed outputs: `python tools/check_outputs.py` (run by `make test`).

Fails, naming the lesson and what to do, when
- a lesson committed with outputs has a code cell with no stamp, or a stamp that is not the hash of its current source: the code changed
  since `make outputs` ran (tools/make_outputs.py), so the stored outputs may show something else;
- a lesson is larger than 1.5 MB (figures too big);
- an output holds a machine path
  (`/root/`, `/home/`, `/work/`, `/tmp/`, `/Users/`);
- a lesson is committed without any outputs.
"""
import re, sys, json
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from make_outputs import ROOT, source_sha

MAX_BYTES = int(1.5 * 2**20)
MACHINE_PATH = re.compile(r'(?<![\w.])/(root|home|work|tmp|Users)/')

def problems(path: Path) -> list[str]:
    nb, out = json.loads(path.read_text()), []
    if path.stat().st_size > MAX_BYTES:
        out.append(f"{path.stat().st_size / 2**20:.2f} MB, over 1.5 MB: make its figures smaller")
    stale, code_cells = [], [c for c in nb['cells'] if c['cell_type'] == 'code']
    if not any(c.get('outputs') for c in code_cells):
        return out + ["committed without outputs: run `make outputs` (tools/make_outputs.py) and commit the lesson"]
    for i, c in enumerate(nb['cells']):
        if c['cell_type'] != 'code': continue
        src = ''.join(c['source'])
        if c.get('metadata', {}).get('transfervision', {}).get('source_sha') != source_sha(src): stale.append(i)
        for o in c.get('outputs', []):
            text = ''.join(o.get('text', '')) + ''.join(''.join(v) for k, v in o.get('data', {}).items() if k.startswith('text/'))
            if m := MACHINE_PATH.search(text): out.append(f"cell {i} shows a machine path ({m.group(0)}...)")
    if stale: out.append(f"code changed since its outputs were made (cells {', '.join(map(str, stale[:8]))}"
                         f"{', ...' if len(stale) > 8 else ''}): run `make outputs`")
    return out

def main():
    bad = {p.name: pr for p in sorted((ROOT/'lessons').glob('*.ipynb')) if (pr := problems(p))}
    for name, pr in bad.items(): print(f"lessons/{name}: " + '; '.join(pr))
    if not bad: print("every lesson's outputs were made from its current code")
    return 1 if bad else 0

if __name__ == '__main__': sys.exit(main())
