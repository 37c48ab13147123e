__all__ = []

# %% ../nbs/09_cli.ipynb #7f68c37e
from .cli import main
import sys
if __name__ == '__main__': sys.exit(main())

# %% ../nbs/09_cli.ipynb #7f68c37e
from .cli import main
import sys
if __name__ == '__main__': sys.exit(main())

# %% ../nbs/09_cli.ipynb #7f68c37e
from .cli import main
import sys
if __name__ == '__main__': sys.exit(main())