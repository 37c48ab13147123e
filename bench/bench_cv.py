"""Choosing the `cpu` budget by cross-validation: body features computed once, every head setting scored by k-fold CV.

Run: `TRANSFERVISION_DATA=/work/shared/data .venv/bin/python bench/bench_cv.py <mode> [options]`.

Why: a 20 % validation split of the course samples is 74 images on pets (one image = 1.35 points), too few to
tell two settings apart. Here every labelled sample of a dataset is scored exactly once, by a head trained
on the other folds (stratified k-fold, repeated with other fold seeds), and the table gives the mean over folds
± their standard deviation, the accuracy over all samples, and what one image is worth.

Modes:
- `extract --datasets pets,... --configs efficientnet_lite0@224,efficientnet_lite2@260`: run each body once over
  every labelled sample of each dataset, through the same pipeline as `train_head_cached` (Resize(presize) crop,
  then the validation transforms at `size`, ImageNet normalisation), plain and mirrored; pooled features are
  cached in `$TV_FEATURE_CACHE` (default /tmp/transfervision-features, never the repository), with the seconds taken.
- `cv --datasets ... --configs ... --epochs 10,20 --lrs 3e-3 --views 1,2 --tta 0,1 --folds 5 --repeats 2`:
  score every head setting by CV on the cached features; prints one row per setting, and writes `--md FILE` rows.
- `throughput --configs ...`: images per second of the body pass (decode + resize + body) per backbone/size,
  measured side by side in one run (the configurations alternate, round after round, on the same images).
- `cars-test --configs ...`: Stanford Cars' official split: train on `car_data/train`, score on `car_data/test`.

Rock-paper-scissors: `rps_items` drops the archive's `rps-cv-images/` copy and any repeated content first, so a
duplicate is never in a training fold and a validation fold at once. Doraemon/Wall-E: its train and valid
folders plus the six test images (named after their class). Stanford Cars: `train/` and `test/` together (10 per
class), so a 5-fold split trains on 8 per class, as the official split does.
"""
import argparse, math, os, statistics, sys, time, warnings
from pathlib import Path

CACHE = Path(os.environ.get('TV_FEATURE_CACHE', '/tmp/transfervision-features'))
NAMES = ('pets', 'rock_paper_scissors', 'doraemon_walle', 'stanford_cars')

def parse_config(text):
    "'efficientnet_lite2@260' or 'efficientnet_lite2@260/300' (size/presize) -> (arch, size, presize)."
    arch, _, s = text.partition('@')
    size, _, pre = s.partition('/')
    size = int(size or 224)
    return arch, size, int(pre) if pre else presize_for(size)

def presize_for(size):
    "The presize the cpu budget pairs with `size` (224 -> 256: a centre crop of 7/8 of the resized image)."
    return int(round(size * 8 / 7 / 8) * 8)

def labelled_samples(name, max_per_class=None):
    "(files, labels, group) of every labelled sample (or a seeded `max_per_class` of each class): group 'test' for an official held-out test image, else 'train'."
    from transfervision.data import DATASETS, get_dataset
    info = DATASETS[name]
    root = get_dataset(name, download=False)
    files = list(info.items(root))
    labels = [info.label(f) for f in files]
    groups = ['train'] * len(files)
    if name == 'doraemon_walle':
        t = list(info.test_files(root)); files += t; labels += [Path(f).name.split('.')[0] for f in t]; groups += ['test'] * len(t)
    if name == 'stanford_cars':
        t = list(info.test_files(root)); files += t; labels += [info.label(f) for f in t]; groups += ['test'] * len(t)
    if max_per_class:
        import random
        rng, keep, by = random.Random(0), [], {}
        for i, l in enumerate(labels): by.setdefault(l, []).append(i)
        for l in sorted(by): keep += by[l] if len(by[l]) <= max_per_class else rng.sample(by[l], max_per_class)
        keep.sort(); files, labels, groups = [files[i] for i in keep], [labels[i] for i in keep], [groups[i] for i in keep]
    return files, labels, groups

def body_net(learn):
    "The body with the head's pooling and Flatten: what `pooled_features` runs."
    from torch import nn
    head = learn.model[1]
    return nn.Sequential(learn.model[0], head[0], head[1]).eval()

def make_template(name, arch, size, presize, files, labels):
    "A learner for `arch` built the way the cpu budget builds one (make_dls + make_learner), on a few of the files."
    from transfervision.core import get_budget, seed_everything
    from transfervision.data import make_dls
    from transfervision.models import make_learner
    b = get_budget(name, name='cpu', verbose=False, arch=arch, size=size, presize=presize, per_class=None)
    lab = dict(zip(map(str, files), labels))
    few = files[:64] + files[-16:]
    dls = make_dls(few, few[-16:], lambda f: lab[str(f)], b)
    seed_everything(42)
    return make_learner(dls, arch), b

def extract(name, config, force=False, flip=True, max_per_class=None):
    "Pooled features (plain and mirrored) of every labelled sample of `name` for `config`, cached on disk."
    import torch
    arch, size, presize = parse_config(config)
    f = CACHE/f'{name}-{arch}-{size}-{presize}{f"-max{max_per_class}" if max_per_class else ""}.pt'
    nf = f.with_name(f.stem + '-noflip.pt')
    if f.exists() and not force: return torch.load(f)
    if not flip: f = nf
    if f.exists() and not force: return torch.load(f)
    files, labels, groups = labelled_samples(name, max_per_class)
    learn, _ = make_template(name, arch, size, presize, files, labels)
    net = body_net(learn)
    dl = learn.dls.test_dl(files, bs=32)
    xs, xfs = [], []
    t0 = time.perf_counter()
    with torch.no_grad():
        for (xb,) in dl:
            xs.append(net(xb).float().as_subclass(torch.Tensor))
            if flip: xfs.append(net(torch.flip(xb, dims=[-1])).float().as_subclass(torch.Tensor))
    secs = time.perf_counter() - t0
    vocab = sorted(set(labels))
    d = dict(x=torch.cat(xs), xf=torch.cat(xfs) if flip else None, y=torch.tensor([vocab.index(l) for l in labels]), vocab=vocab,
             files=[str(p) for p in files], groups=groups, seconds=secs, arch=arch, size=size, presize=presize,
             threads=torch.get_num_threads(), load=os.getloadavg())
    CACHE.mkdir(parents=True, exist_ok=True)
    torch.save(d, f.with_suffix('.tmp')); os.replace(f.with_suffix('.tmp'), f)
    passes = (1 + flip) * len(files)
    d['passes'] = passes
    print(f"extracted {name} {config}: {len(files)} images x {1 + flip} ({'plain, mirrored' if flip else 'plain'}) in {secs:.0f} s "
          f"({passes / secs:.1f} images/s, load average {os.getloadavg()[0]:.1f})", flush=True)
    return d

def stratified_folds(y, k, seed):
    "Fold index per sample: each class's samples shuffled with `seed` and dealt round-robin into `k` folds."
    import random
    rng, fold = random.Random(seed), [0] * len(y)
    by = {}
    for i, c in enumerate(y): by.setdefault(int(c), []).append(i)
    start = 0
    for c in sorted(by):
        idx = by[c]; rng.shuffle(idx)
        for j, i in enumerate(idx): fold[i] = (start + j) % k
        start += len(idx)   # classes smaller than k do not all land in fold 0
    return fold

def fit_head(xtr, ytr, n_out, epochs, lr, seed=42, bs=64, wd=0.01, head='mlp'):
    """Train the head fastai's `vision_learner` builds (after pooling) on features, with fastai's `fit_one_cycle`
    written in plain PyTorch (Adam with decoupled weight decay 0.01, eps 1e-5, beta2 0.99; one cycle: 25 % warm-up
    from lr/25, cosine down to lr/1e5, beta1 0.95 -> 0.85 -> 0.95; batches of 64, the last partial one dropped):
    the same schedule `train_head_cached` runs, without the Learner's per-batch overhead. Returns it in eval mode."""
    import torch
    from torch import nn
    from fastai.vision.learner import create_head
    from fastai.torch_core import apply_init
    g = torch.Generator().manual_seed(seed); torch.manual_seed(seed)
    if head == 'logistic':   # the package's train_head_logistic: lin_ftrs=[] head fitted by logistic regression, `lr` is C
        from types import SimpleNamespace
        from transfervision.train import fit_linear_head
        h = create_head(xtr.shape[1] // 2, n_out, lin_ftrs=[])
        fit_linear_head(SimpleNamespace(model=(None, h)), xtr, ytr, C=lr)
        return nn.Sequential(*list(h.children())[2:]).eval()
    kind = head   # 'mlp': fastai's default head (hidden layer of 512); 'linear': lin_ftrs=[] (batch norm, dropout, one linear layer)
    head = create_head(xtr.shape[1] // 2, n_out, **({'lin_ftrs': []} if kind == 'linear' else {}))   # concat pooling doubles the width
    apply_init(head, nn.init.kaiming_normal_)
    tail = nn.Sequential(*list(head.children())[2:])
    bs = min(bs, len(xtr)); per_epoch = len(xtr) // bs
    opt = torch.optim.AdamW(tail.parameters(), lr=lr, betas=(0.95, 0.99), eps=1e-5, weight_decay=wd)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * per_epoch, pct_start=0.25,
                                                div_factor=25., final_div_factor=1e5, base_momentum=0.85, max_momentum=0.95)
    loss_fn = nn.CrossEntropyLoss()
    tail.train()
    for _ in range(epochs):
        perm = torch.randperm(len(xtr), generator=g)
        for i in range(per_epoch):
            idx = perm[i * bs:(i + 1) * bs]
            loss = loss_fn(tail(xtr[idx]), ytr[idx])
            opt.zero_grad(); loss.backward(); opt.step(); sched.step()
    return tail.eval()

def cv_score(d, epochs, lr, views, folds=5, repeats=1, head='mlp'):
    "Per-fold accuracies and samples right, without and with flip TTA (the same heads), over `repeats` k-fold splits."
    import torch
    accs, right, n = {0: [], 1: []}, {0: 0, 1: 0}, 0
    y = d['y']; n_out = len(d['vocab'])
    for r in range(repeats):
        fold = torch.tensor(stratified_folds(y.tolist(), folds, seed=r))
        for k in range(folds):
            tr, va = (fold != k).nonzero().flatten(), (fold == k).nonzero().flatten()
            xtr, ytr = d['x'][tr], y[tr]
            if views >= 2:
                if d['xf'] is None: raise SystemExit(f"views={views} needs mirrored features: extract without --no-flip")
                xtr, ytr = torch.cat([xtr, d['xf'][tr]]), torch.cat([ytr, ytr])
            net = fit_head(xtr, ytr, n_out, epochs, lr, seed=1000 * r + k, head=head)
            with torch.no_grad():
                p = net(d['x'][va]).softmax(1)
                pt = p if d['xf'] is None else (p + net(d['xf'][va]).softmax(1)) / 2
            for tta, q in ((0, p), (1, pt)):
                ok = (q.argmax(1) == y[va])
                accs[tta].append(ok.float().mean().item()); right[tta] += int(ok.sum())
            n += len(va)
    return accs, right, n

def cmd_cv(args):
    import torch
    torch.set_num_threads(1)
    rows = []
    print(f"{'dataset':<20}{'backbone@px':<24}{'views':>6}{'tta':>4}{'ep':>4}{'lr/C':>7} | {'CV mean ± sd':>14}{'all':>8}"
          f"{'n':>6}{'1 img':>7}{'body s':>8}{'head s':>7}", flush=True)
    for name in args.datasets.split(','):
        for config in args.configs.split(','):
            d = extract(name, config, flip=not args.no_flip, max_per_class=args.max_per_class)
            for views in map(int, args.views.split(',')):
                logistic = args.head == 'logistic'   # no epochs; the `lr` column is C
                for epochs in ([0] if logistic else map(int, args.epochs.split(','))):
                    for lr in map(float, (args.Cs if logistic else args.lrs).split(',')):
                        t = time.perf_counter()
                        accs_t, right_t, n = cv_score(d, epochs, lr, views, args.folds, args.repeats, head=args.head)
                        th = (time.perf_counter() - t) / len(accs_t[0])
                        for tta in map(int, args.tta.split(',')):
                            accs, right = accs_t[tta], right_t[tta]
                            m, sd = statistics.mean(accs), statistics.stdev(accs) if len(accs) > 1 else 0.0
                            nv = n / len(accs)
                            # body seconds the CLI would spend: train images in `views` passes, valid in 1 (+1 with tta)
                            per_img = d['seconds'] / d.get('passes', 2 * len(d['y']))
                            body = per_img * len(d['y']) * ((1 - 1 / args.folds) * views + (1 / args.folds) * (1 + tta))
                            row = dict(name=name, config=config + ('' if args.head == 'mlp' else ' ' + args.head), views=views, tta=tta, epochs=epochs, lr=lr, mean=m, sd=sd,
                                       all=right / n, n=n // args.repeats, one=100 / nv, body=body, head=th)
                            rows.append(row)
                            print(f"{name:<20}{row['config']:<24}{views:>6}{tta:>4}{epochs:>4}{lr:>7.0e} | "
                                  f"{100*m:>7.1f} ± {100*sd:>4.1f}{100*right/n:>7.1f}%{n // args.repeats:>6}"
                                  f"{100/nv:>6.2f}p{body:>8.0f}{th:>7.1f}", flush=True)
    if args.md:
        with open(args.md, 'a') as fh:
            for r in rows:
                fh.write(f"| {r['name']} | {r['config']} | {r['views']} | {'flip' if r['tta'] else '-'} | {r['epochs']} | "
                         f"{r['lr']:.0e} | {100*r['mean']:.1f} ± {100*r['sd']:.1f} | {100*r['all']:.1f} | {r['n']} | "
                         f"{r['one']:.2f} | {r['body']:.0f} |\n")
    return rows

def cmd_extract(args):
    for name in args.datasets.split(','):
        for config in args.configs.split(','): extract(name, config, force=args.force, flip=not args.no_flip, max_per_class=args.max_per_class)

def cmd_throughput(args):
    "Body-pass images/s per config, alternated on the same pets images, median over rounds."
    import torch
    files, labels, _ = labelled_samples('pets')
    files = files[:args.images]
    nets = {}
    for config in args.configs.split(','):
        arch, size, presize = parse_config(config)
        learn, _ = make_template('pets', arch, size, presize, files, labels[:len(files)])
        nets[config] = (body_net(learn), learn.dls.test_dl(files, bs=32))
    times = {c: [] for c in nets}
    for r in range(args.rounds + 1):
        for c, (net, dl) in nets.items():
            t = time.perf_counter()
            with torch.no_grad():
                for (xb,) in dl: net(xb)
            if r: times[c].append(time.perf_counter() - t)   # round 0 warms up
    print(f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()}; {len(files)} pets images per round, "
          f"median of {args.rounds} rounds, configurations alternating (decode + resize + body, no flip)")
    base = None
    for c in nets:
        ips = len(files) / statistics.median(times[c]); base = base or ips
        print(f"{c:<28}{ips:>8.1f} images/s   relative cost {base / ips:.2f}", flush=True)

def cmd_cars_test(args):
    "Official split: train on car_data/train features, score on car_data/test."
    import torch
    torch.set_num_threads(1)
    for config in args.configs.split(','):
        d = extract('stanford_cars', config, flip=not args.no_flip)
        tr = torch.tensor([g == 'train' for g in d['groups']]); te = ~tr
        for views in map(int, args.views.split(',')):
            for tta in map(int, args.tta.split(',')):
                logistic = args.head == 'logistic'
                for epochs in ([0] if logistic else map(int, args.epochs.split(','))):
                    for lr in map(float, (args.Cs if logistic else args.lrs).split(',')):
                        xtr, ytr = d['x'][tr], d['y'][tr]
                        if views >= 2: xtr, ytr = torch.cat([xtr, d['xf'][tr]]), torch.cat([ytr, ytr])
                        head = fit_head(xtr, ytr, len(d['vocab']), epochs, lr, head=args.head)
                        with torch.no_grad():
                            p = head(d['x'][te]).softmax(1)
                            if tta: p = (p + head(d['xf'][te]).softmax(1)) / 2
                        acc = (p.argmax(1) == d['y'][te]).float().mean().item()
                        print(f"cars test folder  {config:<24} {args.head:<8} views {views} tta {tta} "
                              f"{f'C {lr:g}' if logistic else f'epochs {epochs:>3} lr {lr:.0e}'}: "
                              f"{100*acc:.1f} % of {int(te.sum())}", flush=True)

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('mode', choices=['extract', 'cv', 'throughput', 'cars-test'])
    ap.add_argument('--datasets', default=','.join(NAMES))
    ap.add_argument('--configs', default='efficientnet_lite0@224')
    ap.add_argument('--epochs', default='20'); ap.add_argument('--lrs', default='3e-3')
    ap.add_argument('--views', default='2'); ap.add_argument('--tta', default='0')
    ap.add_argument('--folds', type=int, default=5); ap.add_argument('--repeats', type=int, default=1)
    ap.add_argument('--md', default=None, help='append the rows as a markdown table to this file')
    ap.add_argument('--no-flip', action='store_true', help='extract: plain views only (half the time; no views=2, no TTA)')
    ap.add_argument('--max-per-class', type=int, default=None, help='a seeded sample of at most this many per class (default: all)')
    ap.add_argument('--force', action='store_true'); ap.add_argument('--images', type=int, default=64)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--head', default='mlp', choices=['mlp', 'linear', 'logistic'],
                    help="the head: fastai's default, lin_ftrs=[] trained by one-cycle, or lin_ftrs=[] fitted by logistic regression (train_head_logistic)")
    ap.add_argument('--Cs', default='0.3', help="--head logistic: the regularisation settings C to score (shown in the lr column)")
    args = ap.parse_args(argv)
    warnings.filterwarnings('ignore')
    if not os.environ.get('TRANSFERVISION_DATA'): print("note: TRANSFERVISION_DATA is not set")
    {'extract': cmd_extract, 'cv': cmd_cv, 'throughput': cmd_throughput, 'cars-test': cmd_cars_test}[args.mode](args)
    return 0

if __name__ == '__main__':
    sys.exit(main())
