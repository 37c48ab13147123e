"""Import every module of the exported package, each in a fresh interpreter (issue #10).

Notebooks run their cells in one kernel, where an earlier cell's `import matplotlib.pyplot as plt`
hides that an exported module never imports `plt`. Importing each module in a process of its own catches
that (together with `ruff check --select F transfervision/`, which finds undefined names inside functions
that an import does not execute).

Each module is imported in a child forked from one process that imported only third-party libraries that
change nothing of fastai's or ours when imported (`PRELOAD`: torch, torchvision, timm; about 6 of the 10 s a
fresh interpreter spends importing a module here); fastai, which patches classes as it is imported, and
the package itself are imported afresh in every child. `--fresh` starts a new interpreter a module instead.

`python tools/check_package.py [-j N] [--fresh]`: exit status 1, with each failing module's traceback, if any
module fails to import. Warnings are not errors here.
"""
import os, sys, subprocess, argparse, traceback, importlib, multiprocessing as mp
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor

ROOT = Path(__file__).resolve().parents[1]
PKG = 'transfervision'
PRELOAD = ['torch', 'torchvision', 'timm']

def modules(pkg_dir=ROOT/PKG):
    "Dotted names of the package and each of its modules (nbdev's `_modidx` included: it is imported by nbdev)."
    names = [PKG]
    for p in sorted(pkg_dir.rglob('*.py')):
        if '__pycache__' in p.parts or p.name == '__init__.py' and p.parent == pkg_dir: continue
        rel = p.relative_to(pkg_dir.parent).with_suffix('')
        parts = rel.parts[:-1] if p.name == '__init__.py' else rel.parts
        names.append('.'.join(parts))
    return names

def _env():
    return {**os.environ, 'MPLBACKEND': 'Agg', 'PYTHONDONTWRITEBYTECODE': '1'}

def try_import(mod, timeout=300):
    "(mod, ok, output) of `python -c 'import mod'` in a new interpreter."
    try:
        r = subprocess.run([sys.executable, '-c', f'import {mod}'], cwd=ROOT, env=_env(),
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired: return mod, False, f'import took over {timeout} s'
    return mod, r.returncode == 0, (r.stdout + r.stderr).strip()

def _child(mod, conn):
    "In the forked child: import `mod`, send back (ok, traceback)."
    import warnings
    warnings.simplefilter('ignore')
    try: importlib.import_module(mod); conn.send((True, ''))
    except BaseException: conn.send((False, traceback.format_exc()))
    finally: conn.close()

def forked_import(ctx, mod, timeout=300):
    "(mod, ok, output) of importing `mod` in a child of the forkserver (which imported only PRELOAD)."
    here, there = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_child, args=(mod, there)); p.start(); there.close()
    got = here.recv() if here.poll(timeout) else (False, f'import took over {timeout} s')
    p.join(5)
    if p.is_alive(): p.kill(); p.join()
    if got[0] and p.exitcode: got = (False, f'the importing process exited with status {p.exitcode}')
    return mod, *got

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('-j', '--jobs', type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument('--fresh', action='store_true', help='a new interpreter a module (slower)')
    args = ap.parse_args(argv)
    mods = modules()
    if args.fresh: run_one = try_import
    else:
        os.environ.update(_env()); os.chdir(ROOT); sys.path.insert(0, str(ROOT))
        ctx = mp.get_context('forkserver'); ctx.set_forkserver_preload(PRELOAD)
        run_one = lambda m: forked_import(ctx, m)
    with ThreadPoolExecutor(args.jobs) as ex: res = list(ex.map(run_one, mods))
    bad = [(m, out) for m, ok, out in res if not ok]
    for m, out in bad: print(f"FAIL  import {m}\n{out[-3000:]}\n")
    print(f"imported {len(mods) - len(bad)} of {len(mods)} modules in {'fresh interpreters' if args.fresh else 'processes of their own'}"
          + (f"; failed: {', '.join(m for m, _ in bad)}" if bad else ''))
    return 1 if bad else 0

if __name__ == '__main__': sys.exit(main())
