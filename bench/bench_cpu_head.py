"""Head training on a CPU: on cached body features (`train_head_cached`) vs fastai's live `fit_one_cycle`, at equal wall time.

Run: `TRANSFERVISION_DATA=/work/shared/data .venv/bin/python bench/bench_cpu_head.py [--quick] [--datasets pets,...]`.
For each course dataset (the offline samples or full copies, through `dataset_dls` and the cpu budget with the
settings below), one learner trains its head on cached features; a second learner with the same architecture,
images and size trains its head the ordinary fastai way (`fit_one_cycle`, body frozen, lr 3e-3) for as many
epochs as fit in the time the cached run took (estimated from the cached run's body pass). Both are scored
on the validation split, and on the held-out test images where the dataset has labelled ones (Stanford Cars'
`test/` folder, Doraemon/Wall-E's named test images). `--quick` uses 96 px and fewer epochs, a smoke test only.
Timings are wall-clock seconds on this machine and move with whatever else runs on it: the load average is
printed with the table. `--sweep` instead measures cached head accuracy on pets for Lite0/Lite2 at 160-300 px.
`--layout` instead times one training step and one inference pass of Lite0 on a batch of 32 images at 224 px in
PyTorch's default memory layout and in channels-last, alternating the two (the measurement behind `amp_settings`
choosing channels-last on a CPU).
"""
import argparse, os, sys, time, warnings

# Per dataset: what differs from the cpu budget (backbone, size, views and head epochs as BUDGETS['cpu'] says): all
# sample images for pets and cars. The cross-validated choice of that budget is bench/bench_cv.py (bench/RESULTS.md).
SETTINGS = {
    'pets': dict(per_class=None),
    'rock_paper_scissors': dict(),
    'doraemon_walle': dict(),
    'stanford_cars': dict(per_class=None),
}
PLAIN_LR, CACHED_LR = 3e-3, 3e-3

def labelled_test(name, root):
    "Held-out test images with their labels, or ([], [])."
    from pathlib import Path
    from transfervision.data import DATASETS, cars_label
    info = DATASETS[name]
    if info.test_files is None: return [], []
    files = list(info.test_files(root))
    if name == 'stanford_cars': return files, [cars_label(f) for f in files]
    if name == 'doraemon_walle': return files, [Path(f).name.split('.')[0] for f in files]
    return [], []

def test_accuracy(learn, files, labels):
    if not files: return None
    dl = learn.dls.test_dl(files)
    preds, _ = learn.get_preds(dl=dl)
    got = [learn.dls.vocab[int(i)] for i in preds.argmax(1)]
    return sum(a == b for a, b in zip(got, labels)) / len(labels)

def run_one(name, quick):
    from transfervision.core import get_budget, seed_everything
    from transfervision.data import dataset_dls, get_dataset
    from transfervision.models import make_learner
    from transfervision.train import train_head_cached
    s = dict(SETTINGS[name])
    if quick: s.update(size=96, presize=128, epochs_cached=5)
    budget = get_budget(name, name='cpu', verbose=False, **s)
    epochs = budget.epochs_cached
    root = get_dataset(name)
    files, labels = labelled_test(name, root)
    seed_everything(42)
    dls = dataset_dls(name, budget)
    n_tr, n_va = len(dls.train_ds), len(dls.valid_ds)

    seed_everything(42)
    learn = make_learner(dls, budget.arch)
    t = time.perf_counter()
    with learn.no_bar(), learn.no_logging(): train_head_cached(learn, epochs, lr=CACHED_LR, views=budget.views)
    t_ours = time.perf_counter() - t
    with learn.no_bar(): ours = (float(learn.validate()[2]), test_accuracy(learn, files, labels))

    # one live epoch costs about a body pass over train + valid images: the cached run did views x train + valid
    per_img = learn.cached_head['extract_s'] / (budget.views * n_tr + n_va)
    n_plain = max(1, round(t_ours / (per_img * (n_tr + n_va))))
    seed_everything(42)
    plain = make_learner(dls, budget.arch)
    t = time.perf_counter()
    with plain.no_bar(), plain.no_logging():
        plain.freeze(); plain.fit_one_cycle(n_plain, PLAIN_LR)
    t_plain = time.perf_counter() - t
    with plain.no_bar(): theirs = (float(plain.validate()[2]), test_accuracy(plain, files, labels))
    return dict(name=name, arch=budget.arch, size=budget.size, n=f"{n_tr}/{n_va}/{len(files)}",
                ours=(t_ours, epochs) + ours, plain=(t_plain, n_plain) + theirs)

def sweep(quick):
    "Cached head accuracy on pets for Lite0 and Lite2 at several sizes."
    from transfervision.core import get_budget, seed_everything
    from transfervision.data import dataset_dls
    from transfervision.models import make_learner
    from transfervision.train import train_head_cached
    print(f"{'arch':<20}{'size':>5}{'seconds':>9}{'valid acc':>10}")
    for arch in ('efficientnet_lite0', 'efficientnet_lite2'):
        for size in ((128,) if quick else (160, 192, 224, 260, 300)):
            b = get_budget('pets', name='cpu', verbose=False, per_class=None, size=size, presize=int(size * 1.25), arch=arch)
            seed_everything(42)
            learn = make_learner(dls := dataset_dls('pets', b), arch)
            t = time.perf_counter()
            with learn.no_bar(), learn.no_logging(): train_head_cached(learn, 10, lr=CACHED_LR)
            t = time.perf_counter() - t
            with learn.no_bar(): acc = float(learn.validate()[2])
            print(f"{arch:<20}{size:>5}{t:>9.1f}{acc:>10.3f}   ({len(dls.train_ds)} train / {len(dls.valid_ds)} valid)", flush=True)

def layout(quick, rounds=4):
    "Median seconds of a training step and of inference, Lite0, batch 32, default layout vs channels-last, alternated."
    import statistics, torch
    import torch.nn.functional as F
    from transfervision.models import create_model
    size = 96 if quick else 224
    m = create_model('efficientnet_lite0', 37)
    x, y = torch.randn(32, 3, size, size), torch.randint(0, 37, (32,))
    opt = torch.optim.SGD(m.parameters(), lr=1e-4)
    formats = {'default (NCHW)': torch.contiguous_format, 'channels-last': torch.channels_last}
    times = {(k, what): [] for k in formats for what in ('train', 'infer')}
    for r in range(rounds + 1):   # round 0 warms up and is not counted
        for name, fmt in formats.items():
            m.to(memory_format=fmt); xf = x.contiguous(memory_format=fmt)
            m.train(); t = time.perf_counter()
            F.cross_entropy(m(xf), y).backward(); opt.step(); opt.zero_grad()
            t_train = time.perf_counter() - t
            m.eval(); t = time.perf_counter()
            with torch.no_grad(): m(xf)
            t_infer = time.perf_counter() - t
            if r: times[name, 'train'].append(t_train); times[name, 'infer'].append(t_infer)
    print(f"{'layout':<16}{'train step s':>13}{'inference s':>13}   (median of {rounds}, batch 32, {size} px, Lite0)")
    for name in formats:
        print(f"{name:<16}{statistics.median(times[name, 'train']):>13.2f}{statistics.median(times[name, 'infer']):>13.2f}")

def fmt(a):
    return '-' if a is None else f"{100 * a:.1f}%"

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--quick', action='store_true', help='96 px and a third of the epochs: a smoke test')
    ap.add_argument('--datasets', default=','.join(SETTINGS), help='comma-separated dataset names')
    ap.add_argument('--sweep', action='store_true', help='instead: pets accuracy for Lite0/Lite2 at 160-300 px')
    ap.add_argument('--layout', action='store_true', help='instead: default vs channels-last memory layout, one batch')
    args = ap.parse_args(argv)
    if not os.environ.get('TRANSFERVISION_DATA'): print("note: TRANSFERVISION_DATA is not set; datasets are looked up or downloaded")
    import torch
    warnings.filterwarnings('ignore')
    print(f"torch threads: {torch.get_num_threads()}, cpus: {os.cpu_count()}, load average at start: {os.getloadavg()}", flush=True)
    if args.sweep: sweep(args.quick); return 0
    if args.layout: layout(args.quick); return 0
    rows = []
    for name in args.datasets.split(','):
        if name not in SETTINGS: sys.exit(f"Unknown dataset {name!r}: use some of {', '.join(SETTINGS)}.")
        rows.append(r := run_one(name, args.quick))
        print(f"done {name}: {r}", flush=True)
    print(f"\nload average at end: {os.getloadavg()}")
    print(f"{'dataset':<20}{'arch / px':<24}{'train/valid/test':>17} | {'cached head: s, ep, valid, test':>33} | {'live fastai head: s, ep, valid, test':>37}")
    for r in rows:
        o, p = r['ours'], r['plain']
        print(f"{r['name']:<20}{r['arch'] + ' / ' + str(r['size']):<24}{r['n']:>17} | "
              f"{o[0]:>8.1f} {o[1]:>4} {fmt(o[2]):>8} {fmt(o[3]):>8}          | "
              f"{p[0]:>8.1f} {p[1]:>4} {fmt(p[2]):>8} {fmt(p[3]):>8}")
    return 0

if __name__ == '__main__':
    sys.exit(main())
