"""Regenerate constraints.txt, the exact versions CI and `make install` use (issue #7).

pyproject.toml holds ranges (what a learner's install accepts); constraints.txt pins the one set we
test. This asks pip to resolve `-e '.[dev]'` from scratch without installing anything
(`pip install --dry-run --ignore-installed --report`) and writes every resolved package except the
project itself.

    .venv/bin/python tools/update_constraints.py            # keep today's pins, add/drop what changed
    .venv/bin/python tools/update_constraints.py --upgrade  # newest versions pyproject.toml allows
    .venv/bin/python tools/update_constraints.py --check    # exit 1 if constraints.txt is out of date

Then `make install` (the install stamp is keyed on constraints.txt) and `make test`.
Resolving reads package metadata only; on a machine with a warm pip cache it takes a minute or two.
"""
import sys, json, argparse, tempfile, subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT/'constraints.txt'
PROJECT = 'transfervision'

def header(path):
    "The comment block at the top of the current file (kept as is)."
    if not path.exists(): return '# Exact versions for CI and `make install`: pip install -c constraints.txt -e \'.[dev]\'\n'
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith('#'): break
        lines.append(line)
    return '\n'.join(lines) + '\n'

def resolve(upgrade=False):
    with tempfile.TemporaryDirectory() as d:
        report = Path(d)/'report.json'
        cmd = [sys.executable, '-m', 'pip', 'install', '--dry-run', '--ignore-installed', '--quiet',
               '--report', str(report), '-e', '.[dev]']
        if not upgrade and CONSTRAINTS.exists(): cmd += ['-c', str(CONSTRAINTS)]
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if r.returncode:
            msg = '\n'.join(l for l in (r.stdout + r.stderr).splitlines() if 'is ignored: it is neither' not in l)
            sys.exit(f"pip could not resolve '.[dev]'{'' if upgrade else ' with the current pins (try --upgrade)'}:\n{msg[-4000:]}")
        items = json.loads(report.read_text())['install']
    pins = {i['metadata']['name']: i['metadata']['version'] for i in items}
    pins.pop(PROJECT, None)
    return ''.join(f"{n}=={v}\n" for n, v in sorted(pins.items(), key=lambda kv: kv[0].lower()))

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--upgrade', action='store_true', help='ignore the current pins: newest versions pyproject.toml allows')
    ap.add_argument('--check', action='store_true', help='only report whether constraints.txt is up to date')
    args = ap.parse_args(argv)
    new = header(CONSTRAINTS) + resolve(args.upgrade)
    old = CONSTRAINTS.read_text() if CONSTRAINTS.exists() else ''
    if args.check:
        print('constraints.txt is up to date' if new == old else 'constraints.txt is out of date: run tools/update_constraints.py')
        return 0 if new == old else 1
    if new == old: print('constraints.txt is unchanged'); return 0
    CONSTRAINTS.write_text(new)
    oldp = {l.split('==')[0]: l for l in old.splitlines() if '==' in l and not l.startswith('#')}
    newp = {l.split('==')[0]: l for l in new.splitlines() if '==' in l and not l.startswith('#')}
    for n in sorted(set(oldp) | set(newp), key=str.lower):
        if oldp.get(n) != newp.get(n): print(f"  {oldp.get(n, '(none)'):40} -> {newp.get(n, '(removed)')}")
    print('Wrote constraints.txt; now run make install and make test.')
    return 0

if __name__ == '__main__': sys.exit(main())
