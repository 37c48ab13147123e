"""Build an image folder far from ImageNet from the rock-paper-scissors samples: greyscale, inverted, rotated a quarter turn.

Run: `TRANSFERVISION_DATA=/work/shared/data .venv/bin/python bench/make_far_folder.py /tmp/far_rps [--per-class 60]`.
The hands become pale shapes on a dark ground, upright instead of sideways: what ImageNet's features were never
tuned to. Used to show the unfrozen stage (`transfervision train FOLDER --unfrozen 2`) against the head alone.
The folder is written where you say (never into the data folder), one subfolder per class.
"""
import argparse, random, sys
from pathlib import Path

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('dest'); ap.add_argument('--per-class', type=int, default=60); ap.add_argument('--seed', type=int, default=0)
    args = ap.parse_args(argv)
    from PIL import Image, ImageOps
    from transfervision.data import get_dataset, rps_items
    dest = Path(args.dest)
    if dest.exists() and any(dest.iterdir()): sys.exit(f"{dest} is not empty: give a new folder")
    items = rps_items(get_dataset('rock_paper_scissors', download=False))
    rng = random.Random(args.seed)
    for cls in ('rock', 'paper', 'scissors'):
        files = sorted(p for p in items if p.parent.name == cls)
        (dest/cls).mkdir(parents=True, exist_ok=True)
        for f in rng.sample(files, min(args.per_class, len(files))):
            im = ImageOps.invert(ImageOps.grayscale(Image.open(f))).rotate(90, expand=True)
            im.convert('RGB').save(dest/cls/f.name, quality=90)
    print(f"wrote {sum(1 for _ in dest.rglob('*.jpg'))} images to {dest}")
    return 0

if __name__ == '__main__':
    sys.exit(main())
