"""Build an image folder far from ImageNet from the course samples, to show when fine-tuning the body pays.

Run: `TRANSFERVISION_DATA=/work/shared/data .venv/bin/python bench/make_far_folder.py DEST --kind sideways-cars [--per-class 300]
[--test DIR --test-per-class 200]` (`--test`: a second folder from other photos, for `transfervision predict`).

- `sideways-cars`: Stanford Cars photos turned a quarter left (class `left`) or a quarter right (class `right`), each
  photo used once (no twin of a photo on the other side of a split). ImageNet's training mirrors half its photos, so
  its features hardly tell an image from its mirror image, and the mirror image of a car turned left looks like a car
  turned right: the label is what the pretrained features were trained to ignore (lesson 4b measures it). Train it
  with `--no-flip`: mirroring would turn every left into a right.
- `negative-rps`: rock-paper-scissors hands greyscale, inverted and upright (pale shapes on a dark ground). Far from
  ImageNet's look, but the classes stay easy for its features: the head alone already gets them right.

The folder is written where you say (never into the data folder), one subfolder per class.
"""
import argparse, random, sys
from pathlib import Path

def sideways_cars(dest: Path, per_class: int, rng: random.Random, test: Path | None = None, test_per_class: int = 0):
    from PIL import Image
    from transfervision.data import get_dataset, cars_items, cars_test_files
    root = get_dataset('stanford_cars', download=False)
    photos = sorted(set(cars_items(root)) | set(cars_test_files(root)))
    photos = rng.sample(photos, min(2 * (per_class + test_per_class), len(photos)))
    for folder, part in ((dest, photos[:2 * per_class]), (test, photos[2 * per_class:])):
        half = len(part) // 2
        for i, f in enumerate(part if folder else []):
            cls, turn = ('left', Image.Transpose.ROTATE_90) if i < half else ('right', Image.Transpose.ROTATE_270)
            (folder/cls).mkdir(parents=True, exist_ok=True)
            Image.open(f).convert('RGB').transpose(turn).save(folder/cls/f"{f.parent.name}_{f.stem}.jpg", quality=90)

def negative_rps(dest: Path, per_class: int, rng: random.Random, test=None, test_per_class: int = 0):
    from PIL import Image, ImageOps
    from transfervision.data import get_dataset, rps_items
    items = rps_items(get_dataset('rock_paper_scissors', download=False))
    for cls in ('rock', 'paper', 'scissors'):
        files = sorted(p for p in items if p.parent.name == cls)
        (dest/cls).mkdir(parents=True, exist_ok=True)
        for f in rng.sample(files, min(per_class, len(files))):
            im = ImageOps.invert(ImageOps.grayscale(Image.open(f))).rotate(90, expand=True)
            im.convert('RGB').save(dest/cls/f"{f.stem}.jpg", quality=90)

KINDS = {'sideways-cars': sideways_cars, 'negative-rps': negative_rps}

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('dest'); ap.add_argument('--kind', choices=list(KINDS), default='sideways-cars')
    ap.add_argument('--per-class', type=int, default=300); ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--test', default=None, help='sideways-cars: also write this folder, from photos not in DEST')
    ap.add_argument('--test-per-class', type=int, default=200)
    args = ap.parse_args(argv)
    if args.test and args.kind != 'sideways-cars': sys.exit("--test: only with --kind sideways-cars")
    dest, test = Path(args.dest), Path(args.test) if args.test else None
    for d in (dest, test):
        if d and d.exists() and any(d.iterdir()): sys.exit(f"{d} is not empty: give a new folder")
    KINDS[args.kind](dest, args.per_class, random.Random(args.seed), test, args.test_per_class if test else 0)
    for d in (dest, test):
        if d: print(f"wrote {sum(1 for _ in d.rglob('*.jpg'))} images to {d}")
    return 0

if __name__ == '__main__':
    sys.exit(main())
