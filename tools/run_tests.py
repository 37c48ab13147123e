"""Everything CI runs, in order; the last line printed is `N passed, N failed`.

1. `nbdev-export` leaves `transfervision/` unchanged (the package is in sync with the notebooks);
2. `nbdev-clean` leaves every notebook unchanged (committed notebooks are clean);
3. README.md is what `nbs/index.ipynb` renders to;
4. pyproject.toml's requirements accept the torch Colab ships (tools/check_requirements.py); one version
   everywhere (tools/check_version.py); the built wheel installs next to another torch, keeps it and has
   what the lessons import (tools/check_wheel.py); the docs site's config and sidebar (tools/check_docs.py);
5. the exported package as a package: `ruff check --select F transfervision/` (undefined names,
   unused imports) and every module imported in a process of its own (tools/check_package.py);
6. `actionlint` passes on `.github/workflows/*`;
7. the lessons' committed outputs were made from their current code (tools/check_outputs.py);
8. the emulated GPU's own tests (tools/fakegpu/test_fakegpu.py; its C++ backend is compiled first, ~20 s, and cached);
9. every notebook runs top to bottom the way `nbdev-test --flags cuda` runs it (tools/exec_notebook.py: `#| cuda`
   cells run too, at test scale, every `lr_find` at most LR_FIND_ITS batches; each run a child forked from a process that
   imported torch and fastai once): every lesson and every `nbs/` notebook that trains on the emulated GPU
   (tools/fakegpu: `cuda` is available, a separate device that computes with the CPU kernels), the other `nbs/`
   notebooks and the lessons in `CPU_TOO` on the CPU. Each lesson's recorded results (`record_results`) meet the
   floors in `lessons/checks/<lesson>.json` and what it shows passes tools/check_outputs.py's rendered checks.
   The emulated-GPU runs read a copy of the data whose images are at most 160 px a side (`small_data`: decoding
   the original photos cost more than the network at the test budget's 64 px). Executed copies, with their
   outputs, go to `_runs/executed/<cpu|gpu>/<name>.ipynb`;
10. if they exist: `tools/browser_tests.py` (needs `chromium` and `chromedriver` on PATH, else it is
   reported as skipped) and `tools/scale_test.py`, both in the pool of step 9.
Steps 1-2 run first, alone (they rewrite files the rest reads); steps 3-9 share one pool of two workers (one per
core), the longest jobs first (`COST`), after one that compiles the emulated GPU and makes `small_data`'s copy (the
GPU runs wait for it; the other worker starts a CPU job meanwhile). `.ci/run`, install included, must stay within 15 minutes on 2 cores.
A step that changes files leaves the corrected files in place, so `git diff` shows the fix.
The last line printed is `N passed, N failed`, with `, N skipped` when a check was skipped.
SKIP_CHECKS="scale test,browser tests" skips checks by name (reported as skipped). `.ci/run` runs this
script last, so its summary line is the last line of CI's log.
"""
import os, sys, json, time, shutil, tempfile, subprocess, hashlib, threading
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
from check_outputs import rendered_problems, rule_problems
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

def optional_checks() -> list:
    "Checks other scripts add, as (cost, name, callable): each only if its script exists."
    py, out = str(BIN/'python'), []
    if (ROOT/'tools'/'browser_tests.py').exists():
        missing = [c for c in ('chromium', 'chromedriver') if not shutil.which(c)]
        if 'browser tests' in SKIP: skip('browser tests', 'named in SKIP_CHECKS')
        elif missing: skip('browser tests', f"{' and '.join(missing)} not on PATH (apt-get install chromium chromium-driver)")
        else: out.append((COST['browser tests'], 'browser tests', lambda: check_cmd('browser tests', [py, 'tools/browser_tests.py'])))
    if (ROOT/'tools'/'scale_test.py').exists():
        out.append((COST['scale test'], 'scale test', lambda: check_cmd('scale test', [py, 'tools/scale_test.py'])))
    return out

def notebooks():
    return sorted((ROOT/'lessons').glob('*.ipynb')) + sorted((ROOT/'nbs').glob('*.ipynb'))

# Lessons run on the emulated GPU, at the test budget: every budget runs the same cells (only sizes change), so this is
# the CPU run plus the device checks, and its results are checked against lessons/checks/. Lessons 0 and 5 also run on
# the CPU, top to bottom, in the browser tests (JupyterLab's Run All); lesson 0 here as well, so that the CPU path of a
# lesson runs even where Chromium is missing and the browser tests are skipped.
CPU_TOO = ('00_setup',)
# The nbs/ notebooks that train run on the emulated GPU only (the others on the CPU only).
TRAINING_NBS = ('04_models', '05_train', '06_plain_pytorch', '07_interpret', '08_inference', '11_devices', '13_ddp')
# Budget fields a notebook's run sets on top of the test budget (TRANSFERVISION_BUDGET_OVERRIDES; the executed copy's budget
# line shows them). Lesson 4b's unfrozen finder is 50 whole-network steps whatever the data's size, and a step costs about
# the same at 32 px as at 64 (fixed costs dominate on one core): at the cars' test sizes (64 px, 2 photos a class,
# batches of 32) the lesson took 139 s on 2 CPU threads; at these, 66 s alone on the emulated GPU before its control stage
# was added, 100 s in a CI pool after. What it checks
# here is that the lesson runs on the device path and that the pretrained body is nearly mirror-blind; that fine-tuning
# pays is checked on the committed `cpu` run (tools/check_outputs.py, lessons/checks/04b_sideways_cars.cpu.json).
OVERRIDES = {'04b_sideways_cars': 'size=32,presize=40,per_class=1,bs=16'}
# Every notebook run's `Learner.lr_find` stops after this many batches (tools/exec_notebook.py --lr-find-its): a finder costs per
# batch whatever the data's size (lesson 1's two took 53 + 72 s of its 200 s in CI at 100 and 70 batches); the lessons' own
# counts run in their committed outputs. At 30 batches from 1e-7 to 10 the rates are still 0.27 decades apart.
LR_FIND_ITS = 30
EXECUTED = ROOT/'_runs'/'executed'
SMALL_DATA = ROOT/'_runs'/'data-small'   # small_data's copy of TRANSFERVISION_DATA, for the emulated-GPU runs
# Seconds each job took in a run of this script on 2 idle cores (`python tools/runs_summary.py --cells` lists the notebook
# runs of the last one): only the order matters, the longest start first so that the workers end together; others count 10.
COST = {'gpu/04_stanford_cars': 145, 'gpu/05_train': 120, 'gpu/01b_pets_inside': 115, 'browser tests': 100, 'gpu/01_pets': 95,
        'cpu/09_cli': 90, 'scale test': 90, 'gpu/04b_sideways_cars': 85, 'gpu/02_rock_paper_scissors': 80, 'gpu/04_models': 40,
        'gpu/appendix_multi_gpu': 40, 'every transfervision module imports in a process of its own': 37, 'gpu/03_doraemon_walle': 37,
        'wheel installs beside another torch, keeps it, has what lessons import': 35, 'gpu/06_deploy': 35, 'cpu/10_demo': 31,
        'gpu/08_inference': 24, 'emulated GPU': 21, 'gpu/05_your_own_images': 21, 'gpu/06_plain_pytorch': 19,
        'gpu/07_interpret': 16, 'cpu/03_data': 11, 'gpu/11_devices': 9, 'gpu/13_ddp': 8}

def notebook_runs() -> list:
    "(notebook, fakegpu) for every run: each lesson and training nbs/ notebook on the emulated GPU, the rest (and CPU_TOO) on the CPU."
    return [(nb, False) for nb in notebooks() if (nb.parent.name == 'nbs' and nb.stem not in TRAINING_NBS) or nb.stem in CPU_TOO] + \
           [(nb, True) for nb in notebooks() if nb.parent.name == 'lessons' or nb.stem in TRAINING_NBS]

SMALL_SIDE = 160   # the longest side of the images in the emulated-GPU runs' copy of the data (`small_data`)

def small_data(src: Path, dst: Path, side: int = SMALL_SIDE) -> Path:
    """A copy of the dataset folder `src` in `dst` whose images are at most `side` pixels on their longest side
    (JPEG quality 90, EXIF kept, so orientation still applies); smaller images and other files are linked.
    The emulated-GPU runs train at the test budget's 64 px (nbs/08_inference at 96, both under
    160): decoding the original photos (up to 800 px) is a large share of a step there (Lite0 at 64 px: ~7 ms an
    image on one core, decoding a 640 px JPEG ~3.5 ms, a 160 px one ~0.3). The CPU runs read the originals."""
    from PIL import Image
    for f in sorted(src.rglob('*')):
        if not f.is_file(): continue
        out = dst/f.relative_to(src)
        if out.exists() or out.is_symlink(): continue
        out.parent.mkdir(parents=True, exist_ok=True)
        if f.suffix.lower() in ('.jpg', '.jpeg', '.png'):
            try:
                with Image.open(f) as im:
                    if max(im.size) > side:
                        exif = im.info.get('exif')
                        im.draft('RGB', (side, side))   # JPEG: decode at 1/2, 1/4 or 1/8 scale when that is still big enough
                        im = im.convert('RGB')
                        im.thumbnail((side, side), Image.LANCZOS)
                        im.save(out, 'JPEG' if f.suffix.lower() != '.png' else 'PNG', quality=90, **({'exif': exif} if exif else {}))
                        continue
            except OSError: pass   # not an image PIL can read: linked as it is
        out.symlink_to(f.resolve())
    return dst

def results_problems(nb, results_dir) -> str:
    "How the results `nb` recorded miss the floors in lessons/checks/<lesson>.json ('' when they meet them)."
    spec_file = ROOT/'lessons'/'checks'/f'{nb.stem}.json'
    if not spec_file.exists(): return ''
    got_file = Path(results_dir)/f'{nb.stem}.json'
    if not got_file.exists(): return f"{nb.stem} recorded no results (its record_results('{nb.stem}', ...) cell did not run)"
    return '; '.join(rule_problems(json.loads(spec_file.read_text()), json.loads(got_file.read_text())))

_local, servers = threading.local(), []   # each pool thread's `exec_notebook.py --serve` process, and all of them

def exec_notebook(args: list, env: dict, threads: int) -> tuple:
    """Run `tools/exec_notebook.py args` in the environment `env`; (exit status, stdout + stderr). Through this thread's
    `--serve` process, which imported torch and fastai once and forks a child a run (34 runs x ~8 s of imports saved);
    a plain process when that server cannot be had."""
    srv = getattr(_local, 'server', None)
    if srv is None or srv.poll() is not None:
        srv_env = {**os.environ, 'OMP_NUM_THREADS': str(threads), 'MKL_NUM_THREADS': str(threads), 'MPLBACKEND': 'Agg'}
        srv = _local.server = subprocess.Popen([str(BIN/'python'), 'tools/exec_notebook.py', '--serve'], cwd=ROOT, env=srv_env,
                                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        servers.append(srv)
    with tempfile.TemporaryDirectory(prefix='tv-exec-') as d:
        out, err = Path(d)/'stdout', Path(d)/'stderr'
        try:
            srv.stdin.write(json.dumps({'argv': args, 'env': env, 'stdout': str(out), 'stderr': str(err)}) + '\n'); srv.stdin.flush()
            reply = srv.stdout.readline()
        except OSError: reply = ''
        if reply: return json.loads(reply)['rc'], out.read_text(errors='replace') + err.read_text(errors='replace')
    r = subprocess.run([str(BIN/'python'), 'tools/exec_notebook.py', *args], cwd=ROOT, capture_output=True, text=True, env=env)
    return r.returncode, r.stdout + r.stderr

def test_notebook(nb, threads, fakegpu=False):
    "Execute `nb` (tools/exec_notebook.py: as nbdev-test does, on the emulated GPU when `fakegpu`), keep the executed copy, check it."
    name = f"notebook {nb.relative_to(ROOT)}{' (emulated GPU)' if fakegpu else ''}"
    if name in SKIP: return skip(name, 'named in SKIP_CHECKS')
    t0 = time.time()
    results_dir = tempfile.mkdtemp(prefix='tv-results-')
    # each run writes its models and copied images in a folder of its own: a lesson's CPU and emulated-GPU runs go
    # on at the same time, and lesson 5 moves files in its folder (they raced in ./_out)
    out_dir = tempfile.mkdtemp(prefix=f'tv-out-{nb.stem}-')
    env = {**os.environ, 'OMP_NUM_THREADS': str(threads), 'MKL_NUM_THREADS': str(threads),
           'TRANSFERVISION_RESULTS': results_dir, 'TRANSFERVISION_OUT': out_dir}
    if fakegpu and SMALL_DATA.exists(): env['TRANSFERVISION_DATA'] = str(SMALL_DATA)
    if nb.stem in OVERRIDES: env['TRANSFERVISION_BUDGET_OVERRIDES'] = OVERRIDES[nb.stem]
    executed = EXECUTED/('gpu' if fakegpu else 'cpu')/f'{nb.stem}.ipynb'
    # --flags cuda: `#| cuda` cells run too (at the test budget they are CPU-sized).
    rc, output = exec_notebook([str(nb), '--flags', 'cuda', '--lr-find-its', str(LR_FIND_ITS), '--save', str(executed)]
                               + (['--fakegpu'] if fakegpu else []), env, threads)
    ok = rc == 0 and 'Success' in output
    detail = output[-6000:]
    if ok and (missed := results_problems(nb, results_dir)): ok, detail = False, missed
    # what the learner sees: the rendered outputs of the executed copy this run saved (lessons only)
    if ok and nb.parent.name == 'lessons' and executed.exists() and executed.stat().st_mtime >= t0 and \
            (bad := [f"{executed.relative_to(ROOT)}: {pr}" for pr in rendered_problems(json.loads(executed.read_text()))]):
        ok, detail = False, '; '.join(bad)
    shutil.rmtree(results_dir, ignore_errors=True); shutil.rmtree(out_dir, ignore_errors=True)
    record(name, ok, t0, detail)

def main():
    os.environ.setdefault('MPLBACKEND', 'Agg')
    if not os.environ.get('TRANSFERVISION_DATA'):
        print("warning: TRANSFERVISION_DATA is not set; notebooks will try to download datasets.", flush=True)
    t_start = time.time()
    py, nbglobs = str(BIN/'python'), ('nbs/*.ipynb', 'lessons/*.ipynb')
    # first, alone: these two rewrite files that everything after them reads
    check_changes('package in sync with notebooks (nbdev-export)', [[str(BIN/'nbdev-export')]],
                  ('transfervision/**/*.py',), 'run nbdev-export and commit transfervision/')
    check_changes('notebooks clean (nbdev-clean)', [[str(BIN/'nbdev-clean')], [str(BIN/'nbdev-clean'), '--fname', 'lessons']],
                  nbglobs, 'run nbdev-clean (make export) and commit the notebooks')
    # then everything else, in one pool of `workers` (one per core), the longest first so that they end together
    workers = int(os.environ.get('TEST_WORKERS', min(2, os.cpu_count() or 1)))
    threads = max(1, (os.cpu_count() or 1) // workers)
    checks = [('README.md rendered from nbs/index.ipynb', [py, 'tools/readme.py', '--check']),
              ('requirements accept Colab torch (tools/check_requirements.py)', [py, 'tools/check_requirements.py']),
              ('one version everywhere (tools/check_version.py)', [py, 'tools/check_version.py']),
              ('wheel installs beside another torch, keeps it, has what lessons import (tools/check_wheel.py)', [py, 'tools/check_wheel.py']),
              ('docs config and sidebar with the lessons (tools/check_docs.py)', [py, 'tools/check_docs.py']),
              # pyflakes rules on the exported package; its [tool.ruff] config in pyproject.toml excludes _modidx.py
              ('ruff check --select F transfervision/', [str(BIN/'ruff'), 'check', '--select', 'F', '--no-cache', 'transfervision/']),
              ('every transfervision module imports in a process of its own (tools/check_package.py)', [py, 'tools/check_package.py']),
              ('actionlint .github/workflows', [str(BIN/'actionlint'), *map(str, sorted((ROOT/'.github'/'workflows').glob('*.y*ml')))]),
              ('lesson outputs made from the current code (tools/check_outputs.py)', [py, 'tools/check_outputs.py'])]
    jobs = [(COST.get(name.split(' (')[0], 10), name, lambda n=name, c=cmd: check_cmd(n, c, timeout=900), False) for name, cmd in checks]
    shutil.rmtree(EXECUTED, ignore_errors=True)
    built = threading.Event()   # the emulated GPU's backend is compiled (the first run builds and caches it, ~20 s)
    def notebook_job(nb, gpu):
        if gpu: built.wait()
        test_notebook(nb, threads, gpu)
    jobs += [(COST.get(f"{'gpu' if gpu else 'cpu'}/{nb.stem}", 10), nb.stem, lambda nb=nb, gpu=gpu: notebook_job(nb, gpu), gpu)
             for nb, gpu in notebook_runs()]
    jobs.append((COST['emulated GPU'], 'emulated GPU', lambda: check_cmd('emulated GPU (tools/fakegpu/test_fakegpu.py)',
                                                                         [py, 'tools/fakegpu/test_fakegpu.py']), True))
    # the browser tests and the scale test in the pool too: alone, at the end, each added its whole time to the run (the
    # browser tests wait on servers and Chromium as much as they compute; the scale test's one-process run uses one core, its
    # two-process run two, so the other worker's job shares a core with it for about 30 s)
    jobs += [(cost, name, fn, False) for cost, name, fn in optional_checks()]
    jobs.sort(key=lambda j: -j[0])
    def prepare_gpu_runs():
        "What every emulated-GPU run needs: the backend compiled (once; the runs load it from its cache) and small_data's copy, both at once."
        def copy_data():
            shutil.rmtree(SMALL_DATA, ignore_errors=True)
            if os.environ.get('TRANSFERVISION_DATA'):
                t0 = time.time()
                try: small_data(Path(os.environ['TRANSFERVISION_DATA']), SMALL_DATA)
                except Exception as e:   # in a thread: said here, or it would be lost
                    shutil.rmtree(SMALL_DATA, ignore_errors=True)   # the runs then read the originals
                    return record('small copy of the data for the emulated-GPU runs', False, t0, f"{type(e).__name__}: {e}")
                print(f"emulated-GPU runs read a copy of the data at most {SMALL_SIDE} px a side ({time.time() - t0:.0f} s)", flush=True)
        try:
            copying = threading.Thread(target=copy_data); copying.start()   # PIL decodes without the GIL; g++ is another process
            t0 = time.time()
            r = run([py, '-c', 'import sys; sys.path.insert(0, "tools"); import fakegpu; fakegpu.load()'])
            if r.returncode: record('emulated GPU backend compiles (tools/fakegpu)', False, t0, (r.stdout + r.stderr)[-4000:])
            else: print(f"emulated GPU backend compiled ({time.time() - t0:.0f} s)", flush=True)
            copying.join()
        finally: built.set()
    # first, on one worker; the other starts the longest job that does not wait for it
    cpu_first = next((j for j in jobs if not j[3]), None)
    jobs = [(0, 'prepare the emulated-GPU runs', prepare_gpu_runs, False)] + ([cpu_first] if cpu_first else []) + \
           [j for j in jobs if j is not cpu_first]
    with ThreadPoolExecutor(workers) as ex: list(ex.map(lambda j: j[2](), jobs))
    for srv in servers: srv.stdin.close(); srv.wait()
    print(f"all checks: {time.time() - t_start:.0f} s wall with {workers} workers", flush=True)
    sys.exit(summary())

def summary():
    "Print the failed and skipped checks by name, then the last line: `N passed, N failed[, N skipped]`."
    failed = [r for r in results if not r[1]]
    if failed: print("\nFailed:\n" + '\n'.join(f"  {r[0]}" for r in failed))
    if skipped: print("\nSkipped:\n" + '\n'.join(f"  {n} ({why})" for n, why in skipped))
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed" + (f", {len(skipped)} skipped" if skipped else ''))
    return 1 if failed else 0

if __name__ == '__main__': main()
