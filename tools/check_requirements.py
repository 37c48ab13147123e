"""Check that pyproject.toml's requirements fit the torch a learner already has (issue #7).

Colab and most machines ship their own torch/torchvision. If our requirements do not accept that
version, `pip install transfervision` replaces it with several GB of CUDA wheels (or fails). So the
dependencies must be *ranges*, and the exact versions CI tests belong in constraints.txt.

This parses the dependencies with `packaging` (no downloads, nothing installed) and checks that:
- torch/torchvision accept the versions Colab has shipped and plausibly ships, and the version we pin;
- they reject torch 3 / torchvision 1 (an untested major);
- constraints.txt pins torch and torchvision, and every pin satisfies pyproject's ranges
  (so `pip install -c constraints.txt -e '.[dev]'` cannot be contradictory).

`python tools/check_requirements.py [path/to/pyproject.toml]`; exit status 1 with the reasons on failure.
"""
import sys
try: import tomllib
except ImportError: import tomli as tomllib  # Python 3.10
from pathlib import Path
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]

# (torch, torchvision) pairs: Colab's recent releases and the pair constraints.txt pins.
ACCEPT = [('2.5.1', '0.20.1'), ('2.6.0', '0.21.0'), ('2.8.0', '0.23.0'), ('2.9.1', '0.24.1'),
          ('2.10.0', '0.25.0'), ('2.14.1', '0.29.1')]
REJECT = [('3.0.0', '1.0.0')]
# Optional pieces a learner's plain install must not pull in (they live in extras).
NOT_IN_MAIN = ['gradio', 'accelerate', 'nbdev', 'jupyterlab', 'selenium', 'ruff', 'kaggle']

def load(pyproject):
    proj = tomllib.loads(Path(pyproject).read_text())['project']
    main = {canonicalize_name(r.name): r for r in map(Requirement, proj.get('dependencies', []))}
    extras = {k: [Requirement(s) for s in v] for k, v in proj.get('optional-dependencies', {}).items()}
    return proj['name'], main, extras

def read_constraints(path):
    pins = {}
    for line in Path(path).read_text().splitlines():
        line = line.split('#', 1)[0].strip()
        if not line: continue
        r = Requirement(line)
        spec = list(r.specifier)
        if len(spec) != 1 or spec[0].operator != '==':
            raise ValueError(f"{path}: {line!r} is not an exact pin (name==version)")
        pins[canonicalize_name(r.name)] = Version(spec[0].version)
    return pins

def check(pyproject=ROOT/'pyproject.toml', constraints=ROOT/'constraints.txt'):
    errors = []
    name, main, extras = load(pyproject)
    for pkg in ('torch', 'torchvision'):
        if pkg not in main: errors.append(f"{pkg} is not in [project].dependencies")
    if errors: return errors
    torch, tv = main['torch'].specifier, main['torchvision'].specifier
    for t, v in ACCEPT:
        if not torch.contains(t): errors.append(f"torch{torch} rejects torch {t} (Colab ships it): use a range like torch>=2.4,<3")
        if not tv.contains(v): errors.append(f"torchvision{tv} rejects torchvision {v} (goes with torch {t}): use a range like torchvision>=0.19,<1")
    for t, v in REJECT:
        if torch.contains(t): errors.append(f"torch{torch} accepts torch {t}, an untested major: cap it (<3)")
        if tv.contains(v): errors.append(f"torchvision{tv} accepts torchvision {v}, an untested major: cap it (<1)")
    for pkg, req in main.items():
        if any(s.operator in ('==', '===') for s in req.specifier) and pkg in ('torch', 'torchvision', 'fastai', 'timm'):
            errors.append(f"{req} is an exact pin in [project].dependencies: exact versions go in constraints.txt")
    for pkg in NOT_IN_MAIN:
        if pkg in main: errors.append(f"{main[pkg]} is in the main dependencies; it belongs in an extra")
    if Path(constraints).exists():
        try: pins = read_constraints(constraints)
        except ValueError as e: return errors + [str(e)]
        if canonicalize_name(name) in pins: errors.append(f"{constraints} pins the project itself ({name}); leave it out")
        for pkg in ('torch', 'torchvision'):
            if pkg not in pins: errors.append(f"{constraints} does not pin {pkg}")
        reqs = list(main.values()) + [r for rs in extras.values() for r in rs]
        for r in reqs:
            pkg = canonicalize_name(r.name)
            if pkg == canonicalize_name(name) or pkg not in pins: continue
            if not r.specifier.contains(pins[pkg], prereleases=True):
                errors.append(f"{constraints} pins {pkg}=={pins[pkg]}, outside pyproject's {r}")
    else: errors.append(f"{constraints} is missing")
    return errors

def main(argv):
    pyproject = Path(argv[1]) if len(argv) > 1 else ROOT/'pyproject.toml'
    constraints = Path(argv[2]) if len(argv) > 2 else ROOT/'constraints.txt'
    errors = check(pyproject, constraints)
    if errors:
        print(f"{pyproject}: {len(errors)} problem(s):\n" + '\n'.join(f"  - {e}" for e in errors))
        return 1
    _, main_deps, _ = load(pyproject)
    print(f"OK: {main_deps['torch']} and {main_deps['torchvision']} accept torch "
          f"{', '.join(t for t, _ in ACCEPT)} (with matching torchvision) and reject torch 3; constraints.txt agrees.")
    return 0

if __name__ == '__main__': sys.exit(main(sys.argv))
