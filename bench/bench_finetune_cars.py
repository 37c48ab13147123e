"""Does fine-tuning the body pay on Stanford Cars at the `cpu` budget's scale? The cached head against unfrozen stages.

Run: `TRANSFERVISION_DATA=/work/shared/data .venv/bin/python bench/bench_finetune_cars.py [--size 128] [--epochs 3] [--lrs 1e-3]`.
Trains lesson 4's cached head (Lite0, 20 epochs at 3e-3 on two views of each training image), scores it on the
validation split and on the `car_data/test` folder, then, from that head each time, unfreezes and trains
`fit_one_cycle(epochs, slice(lr/100, lr))` with `KeepBnStats` (the recipe of lesson 4's fine-tuning cell) and
scores again. Prints one line a setting, with seconds. Results: bench/RESULTS.md.
"""
import argparse, time, warnings

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--size', type=int, default=128)
    ap.add_argument('--epochs', default='3', help='comma-separated unfrozen epoch counts')
    ap.add_argument('--lrs', default='1e-3', help='comma-separated top learning rates (the body gets a hundredth)')
    args = ap.parse_args(argv)
    warnings.filterwarnings('ignore')
    import torch
    from transfervision.core import get_budget, seed_everything
    from transfervision.data import dataset_dls, get_dataset, cars_test_files, cars_label
    from transfervision.models import make_learner
    from transfervision.train import train_head_cached, KeepBnStats
    budget = get_budget('stanford_cars', name='cpu', size=args.size, presize=args.size * 5 // 4, verbose=False)
    print(budget)
    seed_everything(42)
    dls = dataset_dls('stanford_cars', budget)
    test_files = cars_test_files(get_dataset('stanford_cars'))
    test_dl = dls.test_dl(test_files)
    y_test = torch.tensor([dls.vocab.o2i[cars_label(f)] for f in test_files])
    def scores(learn):
        with learn.no_bar():
            valid = float(learn.validate()[2])
            p, _ = learn.get_preds(dl=test_dl)
        return valid, float((p.argmax(1) == y_test).float().mean())
    learn = make_learner(dls, 'efficientnet_lite0')
    t = time.perf_counter()
    with learn.no_bar(), learn.no_logging(): train_head_cached(learn, 20, 3e-3)
    v, te = scores(learn)
    print(f"cached head: valid {v:.3f} ({len(dls.valid_ds)} images), test {te:.3f} ({len(test_files)}) in {time.perf_counter() - t:.0f} s", flush=True)
    learn.save('bench_head')
    for lr in (float(x) for x in args.lrs.split(',')):
        for epochs in (int(x) for x in args.epochs.split(',')):
            learn.load('bench_head'); learn.unfreeze()
            t = time.perf_counter()
            with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, slice(lr / 100, lr), cbs=KeepBnStats())
            v, te = scores(learn)
            print(f"unfrozen {epochs} epoch(s), slice({lr / 100:.0e}, {lr:.0e}): valid {v:.3f}, test {te:.3f} in {time.perf_counter() - t:.0f} s", flush=True)
    return 0

if __name__ == '__main__':
    raise SystemExit(main())
