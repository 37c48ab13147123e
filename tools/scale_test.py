"""Scale test for `python -m transfervision.ddp` (nbs/13_ddp.ipynb): data-parallel training with 2 CPU processes (gloo) against one process.

Both runs train the head of EfficientNet-Lite0 on the Doraemon/Wall-E samples for one epoch with the `test`
budget at 128 px (its own 64 px is too coarse for the accuracy margin below) and the same effective batch size. Checks:

1. both ranks trained: each wrote its log, with the same number of optimiser steps (> 0), from different
   processes, and together they saw about as many images as the single process did;
2. the 2-process model is as good as the single-process one: validation accuracy within ACC_MARGIN of it (and
   at least ACC_FLOOR), and the same answer on most of the held-back test images;
3. the exported model loads with `transfervision.inference.load_model` and classifies the held-back test images.

Prints PASS/FAIL per check and a summary line; exits 1 if any check failed. Needs TRANSFERVISION_DATA.
Usage: `python tools/scale_test.py [--keep]` (what `make scale-test` runs).
"""
import argparse, json, os, socket, subprocess, sys, tempfile, shutil, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULE = ['-m', 'transfervision.ddp']   # the training script ships in the package (torchrun runs it with -m too)
# Measured on 2 CPU cores (one epoch, effective batch 32): one process 1.000 and two processes 1.000 accuracy on the
# 33 validation images, and the same answers on the 6 held-back test images; other one-epoch runs of this recipe
# gave 0.97 (one image wrong). One image is 3 %; the margin allows three, because the two runs differ legitimately
# (batch-norm statistics are computed per process on half the batch, and augmentations draw other random numbers).
ACC_MARGIN = 0.10
ACC_FLOOR = 0.80
results = []


def check(name, ok, detail=''):
    results.append((name, bool(ok), detail))
    print(f"{'PASS' if ok else 'FAIL'}  {name}{'' if ok or not detail else chr(10) + '      ' + detail}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def run(cmd, log, env):
    t0 = time.time()
    with open(log, 'w') as f: r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    return r.returncode, time.time() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--keep', action='store_true', help='keep the temporary folder with the models and logs')
    args = ap.parse_args()
    if not os.environ.get('TRANSFERVISION_DATA'):
        print("FAIL  TRANSFERVISION_DATA is not set (the offline samples are needed)\n0 passed, 1 failed"); sys.exit(1)
    t_all = time.time()
    tmp = Path(tempfile.mkdtemp(prefix='tv-scale-'))
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1', 'MPLBACKEND': 'Agg',
           'GLOO_SOCKET_IFNAME': 'lo', 'MASTER_ADDR': '127.0.0.1', 'PYTHONUNBUFFERED': '1',
           # the size its margins were measured at: at the test budget's 64 px one epoch gave 0.818 in one process and
           # 0.727 in two (2026-12-06), under the floor; at 128 px both 1.000
           'TRANSFERVISION_BUDGET_OVERRIDES': 'size=128,presize=160'}
    common = ['--budget', 'test', '--epochs', '1', '--bs', '32', '--seed', '42']
    try:
        rc1, t1 = run([sys.executable, *MODULE, *common, '--out', str(tmp/'single')], tmp/'single.log', env)
        check(f'single process trained ({t1:.0f} s)', rc1 == 0, (tmp/'single.log').read_text()[-1500:])
        torchrun = [sys.executable, '-m', 'torch.distributed.run', '--nnodes=1', '--nproc_per_node=2',
                    '--master_addr=127.0.0.1', f'--master_port={free_port()}']
        rc2, t2 = run([*torchrun, *MODULE, *common, '--backend', 'gloo', '--out', str(tmp/'ddp')], tmp/'ddp.log', env)
        check(f'2 processes (torchrun, gloo) trained ({t2:.0f} s)', rc2 == 0, (tmp/'ddp.log').read_text()[-2500:])
        if rc1 or rc2: return finish(tmp, args, t_all)

        # 1. both ranks trained
        single_log = json.loads((tmp/'single'/'ranks'/'rank0.json').read_text())
        logs = [json.loads(f.read_text()) for f in sorted((tmp/'ddp'/'ranks').glob('rank*.json'))]
        check('each of the 2 ranks wrote its log', sorted(l['rank'] for l in logs) == [0, 1] and
              all(l['world_size'] == 2 for l in logs), str(logs))
        if len(logs) == 2:
            steps = [l['steps'] for l in logs]
            check(f"both ranks made the same number of steps (> 0): {steps}; single process: {single_log['steps']}",
                  steps[0] == steps[1] > 0)
            check('the ranks were different processes', logs[0]['pid'] != logs[1]['pid'])
            seen, ref = sum(l['images'] for l in logs), single_log['images']
            check(f'together the ranks saw about one epoch of images: {seen} vs {ref} in one process',
                  0.9 * ref <= seen <= 1.2 * ref)

        # 2. same quality
        r1 = json.loads((tmp/'single'/'result.json').read_text()); r2 = json.loads((tmp/'ddp'/'result.json').read_text())
        check(f"validation accuracy: 2 processes {r2['accuracy']:.3f}, one process {r1['accuracy']:.3f} "
              f"(margin {ACC_MARGIN}, floor {ACC_FLOOR})",
              abs(r2['accuracy'] - r1['accuracy']) <= ACC_MARGIN and r2['accuracy'] >= ACC_FLOOR)
        check(f"same effective batch size ({r2['effective_bs']} = 2 x {r2['per_process_bs']})",
              r2['effective_bs'] == r1['effective_bs'] == 2 * r2['per_process_bs'])

        # 3. the saved model loads and predicts
        from transfervision.inference import load_model
        test = Path(os.environ['TRANSFERVISION_DATA'])/'doraemon-walle'/'imgs'/'test'
        try:
            p_ddp, p_one = load_model(tmp/'ddp', device='cpu'), load_model(tmp/'single', device='cpu')
            a, b = p_ddp.predict(test), p_one.predict(test)
            right = sum(Path(f).name.startswith(l) for f, l in zip(a.file, a.label))
            same = int((a.label.values == b.label.values).sum())
            check(f'the 2-process model loads with load_model: {right}/{len(a)} held-back images right, '
                  f'{same}/{len(a)} answers as the one-process model', len(a) == 6 and right >= 5 and same >= 5)
        except Exception as e: check('the 2-process model loads with load_model', False, f"{type(e).__name__}: {e}")
        print(f"\ntimes: one process {t1:.0f} s (training {r1['train_seconds']} s), "
              f"2 processes {t2:.0f} s (training {r2['train_seconds']} s)")
    finally:
        pass
    return finish(tmp, args, t_all)


def finish(tmp, args, t_all):
    if args.keep: print(f"models and logs kept in {tmp}")
    else: shutil.rmtree(tmp, ignore_errors=True)
    failed = [r for r in results if not r[1]]
    print(f"scale test: {time.time() - t_all:.0f} s; {len(results) - len(failed)} passed, {len(failed)} failed")
    sys.exit(1 if failed else 0)


if __name__ == '__main__': main()
