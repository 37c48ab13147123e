"""Inference benchmark: fastai's `learn.predict` one image at a time vs `Predictor.predict` in batches.

Run: `make bench` or `TRANSFERVISION_DATA=../shared/data .venv/bin/python bench/bench_predict.py [--n 200] [--bs 64]`.
Trains a small rock-paper-scissors head for one epoch (offline EfficientNet-Lite0, 128 px), exports it with
`export_model`, loads it back with `load_model`, then predicts the same N validation images both ways,
on the CPU, and prints seconds, images/s and the speed-up, and checks the predicted labels agree.
Timings depend on the machine and on whatever else is running on it.
"""
import argparse, os, sys, tempfile, time, warnings

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=200, help='number of images (default 200)')
    ap.add_argument('--bs', type=int, default=64, help='batch size of Predictor.predict (default 64)')
    ap.add_argument('--workers', type=int, default=0, help='DataLoader workers of Predictor.predict (default 0)')
    args = ap.parse_args(argv)

    import torch
    from fastai.vision.all import default_device
    from transfervision.core import get_budget, seed_everything
    from transfervision.data import dataset_dls
    from transfervision.models import make_learner
    from transfervision.train import train_head
    from transfervision.inference import export_model, load_model
    default_device(False)   # CPU for both sides, even on a GPU machine
    warnings.filterwarnings('ignore')
    print(f"torch threads: {torch.get_num_threads()}, device: cpu")

    seed_everything(42)
    budget = get_budget('rock_paper_scissors', name='test', per_class=20, verbose=False)
    dls = dataset_dls('rock_paper_scissors', budget)
    files = list(dls.valid_ds.items)[:args.n]
    if len(files) < args.n: sys.exit(f"Only {len(files)} validation images found, fewer than --n {args.n}.")
    learn = make_learner(dls, arch='efficientnet_lite0')
    t = time.perf_counter()
    with learn.no_bar(), learn.no_logging(): train_head(learn, 1, lr=2e-3)
    print(f"trained 1 epoch on {len(dls.train_ds)} images in {time.perf_counter() - t:.1f} s; "
          f"{budget.size} px, {len(files)} validation images to predict")

    with tempfile.TemporaryDirectory() as tmp:
        pred = load_model(export_model(learn, tmp), device='cpu')
        with learn.no_bar():
            learn.predict(files[0]); pred.predict(files[:2])      # warm-up both paths
            t = time.perf_counter()
            slow = [learn.predict(f)[0] for f in files]
            t_slow = time.perf_counter() - t

        t = time.perf_counter()
        df = pred.predict(files, bs=args.bs, num_workers=args.workers)
        t_fast = time.perf_counter() - t

    agree = sum(a == b for a, b in zip(slow, df.label))
    rows = [('learn.predict, one image per call', t_slow), (f'Predictor.predict, batches of {args.bs}', t_fast)]
    print(f"\n{'method':<38} {'seconds':>8} {'images/s':>9} {'speed-up':>9}")
    for name, s in rows:
        print(f"{name:<38} {s:>8.2f} {len(files) / s:>9.1f} {t_slow / s:>8.1f}x")
    print(f"\npredicted labels agree on {agree}/{len(files)} images")
    ok = agree == len(files) and len(df) == len(files)
    if not ok: print("MISMATCH: the two methods disagree", file=sys.stderr)
    return 0 if ok else 1

if __name__ == '__main__':
    sys.exit(main())
