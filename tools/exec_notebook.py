"""Execute one notebook the way `nbdev-test` does, optionally on the emulated GPU, and save it with its outputs.

    python tools/exec_notebook.py lessons/01_pets.ipynb --flags cuda --fakegpu --save _runs/executed/gpu/01_pets.ipynb

Like `nbdev-test`: IN_TEST=1, cells skipped by the project's `tst_flags` (pyproject.toml) unless named in
`--flags`, `#| eval: false` and `skip_exec` honoured, cells run by execnb's CaptureShell in the notebook's
folder, the repository root first on sys.path, the first failing cell stops the run and its traceback is
printed. Unlike it: `--fakegpu` activates tools/fakegpu in the thread that runs the cells (execnb runs them on
its own event-loop thread, and the mapping of `cuda` is thread-local), and `--save` writes the executed notebook
with its outputs (also when a cell failed: the outputs up to it) and each cell's seconds in its metadata
(`transfervision_seconds`; `python tools/runs_summary.py --cells` lists the slowest). `--lr-find-its N` runs every
`Learner.lr_find` for at most N batches (its other arguments as the notebook passes them): test scale for the finder,
whose cost is per batch whatever the data's size. Prints `Success.` and exits 0 when every cell ran.

`--serve`: for a test runner that executes many notebooks (tools/run_tests.py). Imports torch, fastai and the
notebook machinery once (about 8 s of CPU a process), then reads one request a line on stdin (JSON: `argv` for
`main`, `env`, `stdout` and `stderr` file paths) and runs each in a forked child with that environment, in the
repository root, its output in those files; answers `{"rc": N}` a line on stdout. The server runs no computation
before it forks (no thread pools started) and sets one thread (all runs of run_tests use one); the child is a fresh
process for everything a notebook defines: only `sys.modules` is shared, so a notebook that forgets an import
still fails. `transfervision` itself is not preloaded (a module may read the environment when imported).
"""
import argparse, json, os, signal, sys, time, traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('notebook')
    ap.add_argument('--flags', default='', help="space-separated test flags to run that are normally skipped (e.g. 'cuda')")
    ap.add_argument('--fakegpu', action='store_true', help='run on the emulated GPU (tools/fakegpu): cuda is available')
    ap.add_argument('--save', default=None, help='write the executed notebook, with its outputs, here')
    ap.add_argument('--lr-find-its', type=int, default=None,
                    help="at most this many batches per `Learner.lr_find` (test scale: the finder's cost is per batch, whatever the data's size)")
    ap.add_argument('--cell-timeout', type=int, default=None, help="seconds per cell (default: nbdev's cell_timeout, 600)")
    a = ap.parse_args(argv)
    fn = Path(a.notebook).resolve()
    if not fn.exists(): sys.exit(f"{a.notebook}: no such notebook")
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.environ['IN_TEST'] = '1'
    sys.path.insert(0, str(ROOT))
    from fastcore.foundation import working_directory
    from fastcore.nbio import write_nb
    from execnb.shell import CaptureShell
    from nbdev.config import get_config
    from nbdev.process import NBProcessor, nb_lang
    from nbdev.frontmatter import nb_frontmatter
    from nbdev.test import _skip_cell      # nbdev-test's own rule for which cells run
    cfg = get_config(fn.parent)
    skip_flags = cfg.tst_flags.split() if isinstance(cfg.tst_flags, str) else list(cfg.tst_flags or [])
    nb = NBProcessor(fn, rm_directives=False, process=True).nb
    fm = nb_frontmatter(nb)
    if str(fm.get('skip_exec', '')).lower() in ('true', '1', 'yes') or nb_lang(nb) != 'python':
        print('skip_exec: nothing run.\nSuccess.'); return 0
    skip = _skip_cell(nb, skip_flags, a.flags.split())
    timeout = a.cell_timeout if a.cell_timeout is not None else (int(cfg.get('cell_timeout', 600) or 0) or None)
    t0 = time.time()
    k = CaptureShell(fn, profile=bool(cfg.get('exec_profile', False)))
    if a.fakegpu:   # on the shell's own thread, where the cells run
        setup = (f"import sys; sys.path.insert(0, {str(ROOT/'tools')!r}); import fakegpu; fakegpu.activate(); "
                 "import torch; assert torch.cuda.is_available()")
        outs = k.run(setup)
        errs = [o for o in outs if o.get('output_type') == 'error']
        if errs: print('could not activate the emulated GPU:', *errs[0].get('traceback', []), sep='\n'); return 1
    if a.lr_find_its: cap_lr_find(a.lr_find_its)   # the same call, fewer batches (the cells run in this process)
    ok, started = True, {}
    def stamp(c): started[id(c)] = time.time()           # returns None: the cell runs
    def timed(c): c.metadata['transfervision_seconds'] = round(time.time() - started.pop(id(c), time.time()), 1)
    try:
        with working_directory(fn.parent):
            k.run_all(nb, exc_stop=True, preproc=lambda c: skip(c) or stamp(c), postproc=timed, cell_timeout=timeout)
    except BaseException:
        ok = False
        sys.stderr.write((k.prettytb(fname=fn) or traceback.format_exc()) + '\n')
    finally:
        if a.save:
            out = Path(a.save); out.parent.mkdir(parents=True, exist_ok=True)
            nb.metadata['transfervision_run'] = dict(fakegpu=a.fakegpu, flags=a.flags, ok=ok, seconds=round(time.time() - t0, 1),
                                                     budget=os.environ.get('TRANSFERVISION_BUDGET', ''), lr_find_its=a.lr_find_its,
                                                     overrides=os.environ.get('TRANSFERVISION_BUDGET_OVERRIDES', ''))
            write_nb(nb, out)
    print(f"{'Success.' if ok else 'Failed.'} {fn.name} in {time.time() - t0:.0f} s{' on the emulated GPU' if a.fakegpu else ''}")
    return 0 if ok else 1


def cap_lr_find(its: int):
    "Make `Learner.lr_find` run at most `its` batches (its `num_it`, however passed, capped); the rest unchanged."
    import inspect
    from fastai.learner import Learner
    import fastai.callback.schedule  # noqa: F401 (defines Learner.lr_find)
    orig = getattr(Learner.lr_find, '__wrapped_lr_find__', Learner.lr_find)
    sig = inspect.signature(orig)
    def lr_find(*args, **kwargs):
        b = sig.bind(*args, **kwargs); b.apply_defaults()
        b.arguments['num_it'] = min(b.arguments['num_it'], its)
        return orig(*b.args, **b.kwargs)
    lr_find.__wrapped_lr_find__, lr_find.__doc__, lr_find.__signature__ = orig, orig.__doc__, sig
    Learner.lr_find = lr_find


PRELOAD = ('torch', 'torchvision', 'timm', 'fastai.vision.all', 'pandas', 'matplotlib.pyplot', 'execnb.shell', 'nbdev.test',
           'nbdev.process', 'nbdev.frontmatter', 'IPython')

def serve():
    "The `--serve` loop: preload, then one forked child a request (see the module's docstring)."
    import importlib, warnings
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for m in PRELOAD: importlib.import_module(m)
    for line in sys.stdin:
        req = json.loads(line)
        pid = os.fork()
        if pid == 0:   # the child: the request's environment, output and working directory, then main()
            rc = 1
            try:
                os.environ.clear(); os.environ.update(req['env']); os.chdir(ROOT)
                for fd, path in ((1, req['stdout']), (2, req['stderr'])):
                    f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644); os.dup2(f, fd); os.close(f)
                sys.stdin = open(os.devnull)
                rc = main(req['argv'])
            except SystemExit as e: rc = e.code if isinstance(e.code, int) else 1
            except BaseException: traceback.print_exc()
            finally:
                sys.stdout.flush(); sys.stderr.flush()
                os._exit(rc or 0)
        _, status = os.waitpid(pid, 0)
        sys.stdout.write(json.dumps({'rc': os.waitstatus_to_exitcode(status)}) + '\n'); sys.stdout.flush()


if __name__ == '__main__':
    if sys.argv[1:] == ['--serve']: serve()
    else: sys.exit(main())
