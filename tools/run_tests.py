"""Everything CI runs, in order; the last line printed is `N passed, N failed`.

1. `nbdev-export` leaves `transfervision/` unchanged (the package is in sync with the notebooks);
2. `nbdev-clean` leaves every notebook unchanged (committed notebooks are clean);
3. README.md is what `nbs/index.ipynb` renders to;
4. pyproject.toml's requirements accept the torch Colab ships (tools/check_requirements.py);
5. the exported package as a package: `ruff check --select F transfervision/` (undefined names,
   unused imports) and every module imported in a fresh interpreter (tools/check_package.py);
6. `actionlint` passes on `.github/workflows/*`;
7. the lessons' committed outputs were made from their current code (tools/check_outputs.py);
8. every notebook in `nbs/` and `lessons/` runs top to bottom under `nbdev-test --flags cuda`
   (so `#| cuda` cells run too, at test scale on a CPU); each lesson's recorded results
   (`record_results`) meet the floors in `lessons/checks/<lesson>.json`; and lessons 1 and 4 run
   once more with the `full` budget's code path shrunk to a tiny size, so no lesson breaks only in `full`;
9. if they exist: `tools/browser_tests.py` (needs `chromium` and `chromedriver` on PATH, else it is
   reported as skipped) and `tools/scale_test.py` (after the notebooks, when nothing else runs).
A step that changes files leaves the corrected files in place, so `git diff` shows the fix.
The last line printed is `N passed, N failed`, with `, N skipped` when a check was skipped.
SKIP_CHECKS="scale test,browser tests" skips checks by name (reported as skipped). `.ci/run` runs this
script last, so its summary line is the last line of CI's log.
"""
import os, sys, json, time, shutil, tempfile, subprocess, hashlib
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
from check_outputs import rendered_problems
BIN = Path(sys.executable).parent
results = []  # (name, ok, seconds, detail)
skipped = []  # (name, why)
SKIP = {n.strip() for n in os.environ.get('SKIP_CHECKS', '').split(',') if n.strip()}

def run(cmd, **kw):
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, **kw)

def snapshot(*globs):
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for g in globs for p in ROOT.glob(g) if p.is_file()}

def changed(before, after):
    return sorted(str(p.relative_to(ROOT)) for p in set(before) | set(after) if before.get(p) != after.get(p))

def record(name, ok, t0, detail=''):
    results.append((name, ok, time.time() - t0, detail))
    print(f"{'PASS' if ok else 'FAIL'}  {name}  ({time.time() - t0:.0f} s){'' if ok else chr(10) + detail}", flush=True)

def check_changes(name, cmds, globs, hint):
    t0 = time.time(); before = snapshot(*globs)
    for c in cmds:
        r = run(c)
        if r.returncode: return record(name, False, t0, r.stdout + r.stderr)
    diff = changed(before, snapshot(*globs))
    record(name, not diff, t0, f"{hint}; changed: {', '.join(diff)}")

def skip(name, why):
    skipped.append((name, why))
    print(f"SKIP  {name}  ({why})", flush=True)

def check_cmd(name, cmd, timeout=None):
    if name in SKIP: return skip(name, 'named in SKIP_CHECKS')
    t0 = time.time()
    try: r = run(cmd, timeout=timeout)
    except subprocess.TimeoutExpired: return record(name, False, t0, f"timed out after {timeout} s: {' '.join(map(str, cmd))}")
    except OSError as e: return record(name, False, t0, f"could not run {cmd[0]}: {e}")
    record(name, r.returncode == 0, t0, (r.stdout + r.stderr)[-4000:])

def optional_checks():
    "Checks other scripts add: each runs only if its script exists."
    py = str(BIN/'python')
    if (ROOT/'tools'/'browser_tests.py').exists():
        missing = [c for c in ('chromium', 'chromedriver') if not shutil.which(c)]
        if 'browser tests' in SKIP: skip('browser tests', 'named in SKIP_CHECKS')
        elif missing: skip('browser tests', f"{' and '.join(missing)} not on PATH (apt-get install chromium chromium-driver)")
        else: check_cmd('browser tests', [py, 'tools/browser_tests.py'])
    if (ROOT/'tools'/'scale_test.py').exists(): check_cmd('scale test', [py, 'tools/scale_test.py'])

def notebooks():
    return sorted((ROOT/'lessons').glob('*.ipynb')) + sorted((ROOT/'nbs').glob('*.ipynb'))

# The `full` budget's code path (architecture 'auto', all images, full epochs) at a size a CPU finishes in minutes.
FULL_TINY = {'TRANSFERVISION_BUDGET': 'full',
             'TRANSFERVISION_BUDGET_OVERRIDES': 'size=64,presize=80,per_class=4,epochs=2,epochs_cached=2,epochs_unfrozen=1,bs=16'}
# per_class=4, not 2: lesson 1 samples before its random split, and with 2 images a breed could land wholly in validation
FULL_TINY_LESSONS = ('01_pets', '04_stanford_cars')

def results_problems(nb, results_dir) -> str:
    "How the results `nb` recorded miss the floors in lessons/checks/<lesson>.json ('' when they meet them)."
    spec_file = ROOT/'lessons'/'checks'/f'{nb.stem}.json'
    if not spec_file.exists(): return ''
    got_file = Path(results_dir)/f'{nb.stem}.json'
    if not got_file.exists(): return f"{nb.stem} recorded no results (its record_results('{nb.stem}', ...) cell did not run)"
    spec, got, out = json.loads(spec_file.read_text()), json.loads(got_file.read_text()), []
    for key, rule in spec.items():
        if key not in got: out.append(f"{key} was not recorded"); continue
        v, why = got[key], f" ({rule['why']})" if rule.get('why') else ''
        if 'min' in rule and not v >= rule['min']: out.append(f"{key} = {v}, below the floor {rule['min']}{why}")
        if 'max' in rule and not v <= rule['max']: out.append(f"{key} = {v}, above the ceiling {rule['max']}{why}")
        if 'equals' in rule and v != rule['equals']: out.append(f"{key} = {v}, expected {rule['equals']}{why}")
    return '; '.join(out)

def test_notebook(nb, threads, extra_env=None, label=''):
    t0 = time.time()
    results_dir = tempfile.mkdtemp(prefix='tv-results-')
    env = {**os.environ, 'OMP_NUM_THREADS': str(threads), 'MKL_NUM_THREADS': str(threads),
           'TRANSFERVISION_RESULTS': results_dir, **(extra_env or {})}
    # --flags cuda: `#| cuda` cells run too (at the test budget they are CPU-sized).
    r = subprocess.run([str(BIN/'nbdev-test'), str(nb), '--flags', 'cuda'], cwd=ROOT, capture_output=True, text=True, env=env)
    ok = r.returncode == 0 and 'Success' in r.stdout
    detail = (r.stdout + r.stderr)[-6000:]
    if ok and not extra_env and (missed := results_problems(nb, results_dir)): ok, detail = False, missed
    # what the learner sees: the rendered outputs of the executed copies this run saved (_runs/executed/<label>/), lessons only
    seen = [p for p in (ROOT/'_runs'/'executed').glob(f'*/{nb.stem}.ipynb') if p.stat().st_mtime >= t0]
    if ok and nb.parent.name == 'lessons' and (bad := [f"{p.relative_to(ROOT)}: {pr}" for p in seen for pr in rendered_problems(json.loads(p.read_text()))]):
        ok, detail = False, '; '.join(bad)
    shutil.rmtree(results_dir, ignore_errors=True)
    record(f"nbdev-test {nb.relative_to(ROOT)}{label}", ok, t0, detail)

def main():
    os.environ.setdefault('MPLBACKEND', 'Agg')
    if not os.environ.get('TRANSFERVISION_DATA'):
        print("warning: TRANSFERVISION_DATA is not set; notebooks will try to download datasets.", flush=True)
    nbglobs = ('nbs/*.ipynb', 'lessons/*.ipynb')
    check_changes('package in sync with notebooks (nbdev-export)', [[str(BIN/'nbdev-export')]],
                  ('transfervision/**/*.py',), 'run nbdev-export and commit transfervision/')
    check_changes('notebooks clean (nbdev-clean)', [[str(BIN/'nbdev-clean')], [str(BIN/'nbdev-clean'), '--fname', 'lessons']],
                  nbglobs, 'run nbdev-clean (make export) and commit the notebooks')
    check_cmd('README.md rendered from nbs/index.ipynb', [str(BIN/'python'), 'tools/readme.py', '--check'])
    check_cmd('requirements accept Colab torch (tools/check_requirements.py)', [str(BIN/'python'), 'tools/check_requirements.py'])
    # pyflakes rules on the exported package; its [tool.ruff] config in pyproject.toml excludes _modidx.py.
    check_cmd('ruff check --select F transfervision/', [str(BIN/'ruff'), 'check', '--select', 'F', '--no-cache', 'transfervision/'])
    check_cmd('every transfervision module imports in a fresh interpreter (tools/check_package.py)',
              [str(BIN/'python'), 'tools/check_package.py'])
    check_cmd('actionlint .github/workflows', [str(BIN/'actionlint'), *map(str, sorted((ROOT/'.github'/'workflows').glob('*.y*ml')))])
    check_cmd('lesson outputs made from the current code (tools/check_outputs.py)', [str(BIN/'python'), 'tools/check_outputs.py'])
    workers = int(os.environ.get('TEST_WORKERS', min(2, os.cpu_count() or 1)))
    threads = max(1, (os.cpu_count() or 1) // workers)
    t0 = time.time()
    jobs = [(nb, None, '') for nb in notebooks()]
    jobs += [(ROOT/'lessons'/f'{n}.ipynb', FULL_TINY, ' (full budget, tiny sizes)') for n in FULL_TINY_LESSONS
             if (ROOT/'lessons'/f'{n}.ipynb').exists()]
    with ThreadPoolExecutor(workers) as ex: list(ex.map(lambda j: test_notebook(j[0], threads, j[1], j[2]), jobs))
    print(f"notebooks: {time.time() - t0:.0f} s wall with {workers} workers")
    optional_checks()
    sys.exit(summary())

def summary():
    "Print the failed and skipped checks by name, then the last line: `N passed, N failed[, N skipped]`."
    failed = [r for r in results if not r[1]]
    if failed: print("\nFailed:\n" + '\n'.join(f"  {r[0]}" for r in failed))
    if skipped: print("\nSkipped:\n" + '\n'.join(f"  {n} ({why})" for n, why in skipped))
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed" + (f", {len(skipped)} skipped" if skipped else ''))
    return 1 if failed else 0

if __name__ == '__main__': main()
