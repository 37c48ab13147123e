"""Build the release's sdist and wheel, install the wheel next to another torch, check pip kept it, import it (issue #20).

What a learner does on Colab, offline and in about a minute:
1. `python -m build --no-isolation` on a copy of the files the release is made of (pyproject.toml, README.md,
   LICENSE, transfervision/): the sdist, then the wheel built from that sdist, as release.yaml does;
2. a new venv (no pip, no packages of its own) that sees this environment's packages through a folder of links
   (everything but transfervision), and holds its own torch 2.9.1 / torchvision 0.24.1 (a pair Colab shipped).
   Those two are metadata only (`*.dist-info`, torchvision requiring torch==2.9.1, as the real one does): pip
   decides what to install from metadata alone, and no torch other than the one this environment tests is
   installable offline together with a torchvision that matches it;
3. `pip install --no-index <wheel>` into it, with no configuration file (so no local wheel folder either): the
   plan (`--dry-run --report`) must be the wheel alone, and after the install torch is still 2.9.1 and
   torchvision 0.24.1; pip had nothing it could have replaced them with, so a plan that wanted to fails here;
4. the stand-ins removed (this environment's real torch shows through), every module of the *installed*
   wheel is imported (from its site-packages, not from the checkout), and every `transfervision` name the
   lessons import (`from transfervision.x import a, b`) exists in it.
What it does not prove: that the package runs on torch 2.9.1 (Colab's, or the GPU workflow, runs the lessons).

`python tools/check_wheel.py [--keep DIR]`: exit status 1, with the reason, on failure.
"""
import os, ast, sys, json, time, shutil, argparse, tempfile, subprocess, sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = 'transfervision'
OTHER_TORCH = ('2.9.1', '0.24.1')   # torch, torchvision: a pair Colab shipped, not the one constraints.txt pins
RELEASE_FILES = ('pyproject.toml', 'README.md', 'LICENSE', PKG)

def sh(cmd, **kw):
    "Run `cmd`; on failure exit with its output."
    r = subprocess.run(list(map(str, cmd)), capture_output=True, text=True, **kw)
    if r.returncode: sys.exit(f"FAIL: {' '.join(map(str, cmd))}\n{(r.stdout + r.stderr)[-4000:]}")
    return r.stdout

def build(work: Path) -> tuple[Path, Path]:
    "Build the sdist and (from it) the wheel of a clean copy of the release's files; return their paths."
    src, dist = work/'src', work/'dist'
    src.mkdir()
    for f in RELEASE_FILES:
        if (ROOT/f).is_dir(): shutil.copytree(ROOT/f, src/f, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else: shutil.copy2(ROOT/f, src/f)
    sh([sys.executable, '-m', 'build', '--no-isolation', '--outdir', dist, src], env={**os.environ, 'PIP_CONFIG_FILE': os.devnull})
    wheel, = dist.glob('*.whl'); sdist, = dist.glob('*.tar.gz')
    return sdist, wheel

def lesson_imports(root=ROOT) -> dict[str, set[str]]:
    "Module -> names that the lessons' code cells import from `transfervision` (`from transfervision.x import a`)."
    out = {}
    for nb in sorted((root/'lessons').glob('*.ipynb')):
        for c in json.loads(nb.read_text())['cells']:
            if c['cell_type'] != 'code': continue
            src = '\n'.join(l for l in ''.join(c['source']).splitlines() if not l.lstrip().startswith(('%', '!')))
            try: tree = ast.parse(src)
            except SyntaxError: continue
            for n in ast.walk(tree):
                if isinstance(n, ast.ImportFrom) and n.module and n.module.split('.')[0] == PKG and not n.level:
                    out.setdefault(n.module, set()).update(a.name for a in n.names if a.name != '*')
                elif isinstance(n, ast.Import):
                    for a in n.names:
                        if a.name.split('.')[0] == PKG: out.setdefault(a.name, set())
    return out

def stub(site: Path, name: str, version: str, requires=()):
    "A distribution `name==version` that is metadata only: what pip reads to decide."
    d = site/f'{name}-{version}.dist-info'; d.mkdir()
    (d/'METADATA').write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + ''.join(f"Requires-Dist: {r}\n" for r in requires))
    (d/'INSTALLER').write_text('check_wheel\n')
    (d/'RECORD').write_text(f"{d.name}/METADATA,,\n{d.name}/INSTALLER,,\n{d.name}/RECORD,,\n")
    return d

def make_venv(work: Path) -> tuple[Path, Path]:
    "A new venv whose own site-packages is empty and which sees this environment's packages (but ours) after it."
    venv = work/'venv'
    sh([sys.executable, '-m', 'venv', '--without-pip', venv])
    py = venv/'bin'/'python'
    site = Path(sh([py, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])']).strip())
    here, deps = Path(sysconfig.get_paths()['purelib']), work/'deps'
    deps.mkdir()
    for p in here.iterdir():   # links, not copies; our own package and its editable-install hooks stay out
        if p.name.lower().startswith((PKG, '__editable__', '_' + PKG)) or p.suffix == '.pth' or p.name == '__pycache__': continue
        (deps/p.name).symlink_to(p)
    (site/'zz_tested_env.pth').write_text(f"{deps}\n")   # after the venv's own site-packages on sys.path
    return py, site

def pip(py, *args, work, check=True):
    env = {**os.environ, 'PIP_CONFIG_FILE': os.devnull, 'PIP_NO_INDEX': '1', 'PIP_DISABLE_PIP_VERSION_CHECK': '1',
           'PIP_NO_INPUT': '1', 'PYTHONNOUSERSITE': '1'}
    cmd = [sys.executable, '-m', 'pip', '--python', py, *args]
    if check: return sh(cmd, env=env, cwd=work)
    return subprocess.run(list(map(str, cmd)), capture_output=True, text=True, env=env, cwd=work)

def versions(py, work, *names):
    code = f"import importlib.metadata as m; print(' '.join(m.version(n) for n in {list(names)!r}))"
    return sh([py, '-c', code], cwd=work).split()

_IMPORT_ALL = r'''
import sys, json, importlib, warnings, traceback, os
warnings.simplefilter('ignore')
os.environ.setdefault('MPLBACKEND', 'Agg')
site, wanted = sys.argv[1], json.loads(sys.argv[2])
import transfervision
assert transfervision.__file__.startswith(site), f"transfervision imported from {transfervision.__file__}, not the installed wheel in {site}"
root = os.path.dirname(transfervision.__file__)
mods = sorted('transfervision' + ('.' + os.path.relpath(os.path.join(d, f), root)[:-3].replace(os.sep, '.')).replace('.__init__', '')
              for d, _, fs in os.walk(root) for f in fs if f.endswith('.py'))
bad, missing = [], []
for m in mods:
    try: importlib.import_module(m)
    except BaseException as e: bad.append(f"import {m}: {type(e).__name__}: {e}")
for m, names in wanted.items():
    try: mod = importlib.import_module(m)
    except BaseException as e: missing.append(f"{m} (lessons import it): {type(e).__name__}: {e}"); continue
    missing += [f"{m}.{n} (lessons import it)" for n in sorted(names) if not hasattr(mod, n)]
print(json.dumps({'version': transfervision.__version__, 'modules': mods, 'bad': bad, 'missing': missing,
                  'torch': __import__('torch').__version__}))
'''

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--keep', help="do the work in this (new) folder and keep it, instead of a temporary one")
    args = ap.parse_args(argv)
    t0 = time.time()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix='tv-wheel-'))
    work.mkdir(parents=True, exist_ok=True)
    try:
        sdist, wheel = build(work)
        print(f"built {sdist.name} and {wheel.name} ({time.time() - t0:.0f} s)")
        names = sh([sys.executable, '-m', 'zipfile', '-l', wheel])
        if 'licenses/LICENSE' not in names: sys.exit(f"FAIL: {wheel.name} does not carry LICENSE (license-files in pyproject.toml)")
        py, site = make_venv(work)
        t, tv = OTHER_TORCH
        stubs = [stub(site, 'torch', t), stub(site, 'torchvision', tv, [f'torch=={t}'])]
        print(f"new venv {work/'venv'} with torch {t} and torchvision {tv} (metadata stand-ins), "
              f"and this environment's other packages behind them")
        r = pip(py, 'install', '--dry-run', '--quiet', '--report', work/'plan.json', wheel, work=work, check=False)
        if r.returncode:   # with no index, a plan that needs any other package fails to resolve
            why = [l for l in (r.stdout + r.stderr).splitlines() if l.startswith('ERROR')]
            sys.exit(f"FAIL: installing {wheel.name} next to torch {t} / torchvision {tv} would need other packages "
                     f"(pip: {why[0] if why else r.stderr.strip()[-300:]}); check the torch/torchvision ranges in pyproject.toml")
        plan = [f"{i['metadata']['name']}=={i['metadata']['version']}" for i in json.loads((work/'plan.json').read_text())['install']]
        if [p.split('==')[0] for p in plan] != [PKG]:
            sys.exit(f"FAIL: pip's plan for installing {wheel.name} next to torch {t} is {plan}, not the wheel alone")
        out = pip(py, 'install', wheel, work=work)
        print(f"pip install {wheel.name}: {out.strip().splitlines()[-1]}")
        got = versions(py, work, 'torch', 'torchvision', PKG)
        if got[:2] != [t, tv]: sys.exit(f"FAIL: after the install torch/torchvision are {got[:2]}, not the {t}/{tv} that were there")
        print(f"kept: torch {got[0]}, torchvision {got[1]}; installed {PKG} {got[2]}")
        for d in stubs: shutil.rmtree(d)   # now the tested torch shows through, to import with
        wanted = {m: sorted(n) for m, n in lesson_imports().items()}
        r = json.loads(sh([py, '-c', _IMPORT_ALL, site, json.dumps(wanted)], cwd=work,
                          env={**os.environ, 'PYTHONPATH': '', 'PYTHONNOUSERSITE': '1'}).strip().splitlines()[-1])
        for line in r['bad'] + r['missing']: print(f"FAIL: {line}")
        print(f"imported {len(r['modules']) - len(r['bad'])} of {len(r['modules'])} modules of the installed wheel "
              f"(version {r['version']}, with torch {r['torch']}); lessons' imports: "
              f"{sum(map(len, wanted.values())) - len(r['missing'])} of {sum(map(len, wanted.values()))} names "
              f"from {len(wanted)} modules present ({time.time() - t0:.0f} s)")
        return 1 if r['bad'] or r['missing'] else 0
    finally:
        if not args.keep: shutil.rmtree(work, ignore_errors=True)

if __name__ == '__main__': sys.exit(main())
