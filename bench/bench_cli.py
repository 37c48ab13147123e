"""The whole `transfervision train` command against the plain fastai recipe, side by side in one run, per dataset.

Run: `TRANSFERVISION_DATA=/work/shared/data .venv/bin/python bench/bench_cli.py [--datasets pets,stanford_cars,...]`.

For each course dataset, one after the other on the same machine:
- **ours**: `transfervision train <dataset> --out <tmp>` with its default settings, as a user types it, timed
  wall-clock from the shell (start-up and export included); the validation accuracy it prints; where the dataset
  has labelled held-out images (Stanford Cars' `test/` folder, Doraemon/Wall-E's named test images),
  `transfervision predict` on them and the share right.
- **plain fastai**: a fresh Python process that builds the same split (`dataset_dls`, the `cpu` budget, seed 42,
  224 px), `vision_learner(dls, <Lite0>, metrics=accuracy)` and trains the head as fastai's documentation does
  (`fit_one_cycle(3, 2e-3)`, body frozen), then scores the same images; also timed from the shell.
Both print one image's worth of each accuracy. The cross-validated accuracy of the head setting `train` uses
(over all samples, with the spread over folds) is `bench/bench_cv.py cv --head logistic` (bench/RESULTS.md): a single
80/20 split cannot tell settings a point or two apart.
"""
import argparse, os, re, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
NAMES = ('pets', 'stanford_cars', 'rock_paper_scissors', 'doraemon_walle')

PLAIN = r'''
import sys, warnings; warnings.filterwarnings('ignore')
from pathlib import Path
from fastai.vision.all import vision_learner, accuracy
from transfervision.core import get_budget, seed_everything
from transfervision.data import dataset_dls, DATASETS, get_dataset
from transfervision.models import get_arch
name, test_dir = sys.argv[1], sys.argv[2]
budget = get_budget(name, name='cpu', verbose=False, size=224, presize=256)
seed_everything(42)
dls = dataset_dls(name, budget, seed=42)
a = get_arch('efficientnet_lite0')
learn = vision_learner(dls, a.fastai_arch(), metrics=accuracy, **a.timm_kwargs(True))
with learn.no_bar(), learn.no_logging():
    learn.fit_one_cycle(3, 2e-3)
    acc = float(learn.validate()[1])
    files = sorted(f for f in Path(test_dir).rglob('*') if f.suffix.lower() in ('.jpg', '.jpeg', '.png')) if test_dir else []
    right = None
    if files:
        label = DATASETS[name].label if name == 'stanford_cars' else (lambda f: Path(f).name.split('.')[0])
        preds, _ = learn.get_preds(dl=dls.test_dl(files))
        right = sum(dls.vocab[int(i)] == label(f) for i, f in zip(preds.argmax(1), files))
print(f"RESULT {acc} {len(dls.valid_ds)} {right} {len(files)}")
'''

def test_folder(name):
    "The labelled held-out images of `name` (a folder), or None."
    from transfervision.data import DATASETS, get_dataset
    info = DATASETS[name]
    if info.test_files is None: return None
    files = list(info.test_files(get_dataset(name, download=False)))
    return Path(os.path.commonpath(files)) if files else None   # cars: one subfolder a class under car_data/test

def score_predictions(name, csv):
    "Share of the rows of a `predict` CSV whose label is the file's true class."
    import pandas as pd
    from transfervision.data import DATASETS
    df = pd.read_csv(csv)
    label = DATASETS[name].label if name == 'stanford_cars' else (lambda f: Path(f).name.split('.')[0])
    return sum(l == label(f) for f, l in zip(df.file, df.label)), len(df)

def timed(cmd, env):
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if r.returncode: sys.exit(f"{' '.join(map(str, cmd))} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return time.perf_counter() - t, r.stdout

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--datasets', default=','.join(NAMES))
    args = ap.parse_args(argv)
    env = {**os.environ, 'PYTHONWARNINGS': 'ignore'}
    tv = [str(Path(PY).parent/'transfervision')]
    print(f"cpus {os.cpu_count()}, load average at start {os.getloadavg()[0]:.1f}", flush=True)
    rows = []
    for name in args.datasets.split(','):
        tdir = test_folder(name)
        with tempfile.TemporaryDirectory() as tmp:
            s_ours, out = timed(tv + ['train', name, '--out', f'{tmp}/ours'], env)
            m = re.search(r'^accuracy ([\d.]+)% on (\d+) validation images', out, re.M)
            ours = (float(m.group(1)) / 100, int(m.group(2)))
            budget_line = next((l for l in out.splitlines() if l.startswith('Training on')), '')
            ours_test = None
            if tdir:
                timed(tv + ['predict', f'{tmp}/ours', str(tdir), '--csv', f'{tmp}/pred.csv'], env)
                ours_test = score_predictions(name, f'{tmp}/pred.csv')
        s_plain, out = timed([PY, '-c', PLAIN, name, str(tdir or '')], env)
        acc, n, right, nt = out.strip().splitlines()[-1].split()[1:]
        plain = (float(acc), int(n)); plain_test = None if right == 'None' else (int(right), int(nt))
        rows.append((name, s_ours, ours, ours_test, s_plain, plain, plain_test, budget_line))
        print(f"done {name}: ours {s_ours:.0f} s {ours} {ours_test}; plain {s_plain:.0f} s {plain} {plain_test}\n  {budget_line}", flush=True)
    print(f"\nload average at end {os.getloadavg()[0]:.1f}")
    pct = lambda t: '-' if t is None else f"{100 * t[0] / t[1]:.1f} % of {t[1]}"
    print(f"| dataset | `transfervision train`: s | valid | test | plain fastai (224 px, 3 head epochs): s | valid | test | 1 valid image |")
    print("|---|---|---|---|---|---|---|---|")
    for name, so, o, ot, sp, p, pt, _ in rows:
        print(f"| {name} | {so:.0f} | {100 * o[0]:.1f} % | {pct(ot)} | {sp:.0f} | {100 * p[0]:.1f} % | {pct(pt)} | {100 / o[1]:.2f} points |")
    return 0

if __name__ == '__main__':
    sys.exit(main())
