"""Import every module of the exported package, each in a fresh interpreter (issue #10).

Notebooks run their cells in one kernel, where an earlier cell's `import matplotlib.pyplot as plt`
hides that an exported module never imports `plt`. `python -c "import transfervision.X"` in its
own process catches that (together with `ruff check --select F transfervision/`, which finds
undefined names inside functions that an import does not execute).

`python tools/check_package.py [-j N]`: exit status 1, with each failing module's traceback, if any
module fails to import. Warnings are not errors here.
"""
import os, sys, subprocess, argparse
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor

ROOT = Path(__file__).resolve().parents[1]
PKG = 'transfervision'

def modules(pkg_dir=ROOT/PKG):
    "Dotted names of the package and each of its modules (nbdev's `_modidx` included: it is imported by nbdev)."
    names = [PKG]
    for p in sorted(pkg_dir.rglob('*.py')):
        if '__pycache__' in p.parts or p.name == '__init__.py' and p.parent == pkg_dir: continue
        rel = p.relative_to(pkg_dir.parent).with_suffix('')
        parts = rel.parts[:-1] if p.name == '__init__.py' else rel.parts
        names.append('.'.join(parts))
    return names

def try_import(mod, timeout=300):
    env = {**os.environ, 'MPLBACKEND': 'Agg', 'PYTHONDONTWRITEBYTECODE': '1'}
    try:
        r = subprocess.run([sys.executable, '-c', f'import {mod}'], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired: return mod, False, f'import took over {timeout} s'
    return mod, r.returncode == 0, (r.stdout + r.stderr).strip()

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('-j', '--jobs', type=int, default=min(2, os.cpu_count() or 1))
    args = ap.parse_args(argv)
    mods = modules()
    with ThreadPoolExecutor(args.jobs) as ex: res = list(ex.map(try_import, mods))
    bad = [(m, out) for m, ok, out in res if not ok]
    for m, out in bad: print(f"FAIL  import {m}\n{out[-3000:]}\n")
    print(f"imported {len(mods) - len(bad)} of {len(mods)} modules in fresh interpreters"
          + (f"; failed: {', '.join(m for m, _ in bad)}" if bad else ''))
    return 1 if bad else 0

if __name__ == '__main__': sys.exit(main())
