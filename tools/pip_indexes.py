"""Print the package indexes pip is configured with (pip.conf, PIP_* variables) as uv arguments.

uv reads none of pip's configuration; `make install INSTALLER=uv` (what `.ci/run` does) passes these on, so uv
installs from the same places, with pip's rule for several indexes (`--index-strategy unsafe-best-match`: the best
version from any of them). Prints nothing more than that option when pip has no indexes configured."""
import shlex, subprocess, sys

def uv_index_args(pip_config_list: str) -> list:
    "uv arguments for the `index-url`, `extra-index-url` and `find-links` entries of `pip config list`'s output."
    args, seen = ['--index-strategy', 'unsafe-best-match'], set()
    for line in pip_config_list.splitlines():
        key, _, value = line.partition('=')
        name = key.rsplit('.', 1)[-1]
        if name not in ('index-url', 'extra-index-url', 'find-links'): continue
        for v in value.strip().strip('\'"').split():
            if (name, v) in seen or (name == 'index-url' and any(n == 'index-url' for n, _ in seen)): continue
            seen.add((name, v)); args += [f'--{name}', v]
    return args

assert uv_index_args(":env:.find-links='/opt/wheels'\nglobal.cert='/x'\nglobal.extra-index-url='file:///a file:///b'\n"
                     "global.find-links='/opt/wheels'") == ['--index-strategy', 'unsafe-best-match', '--find-links',
                     '/opt/wheels', '--extra-index-url', 'file:///a', '--extra-index-url', 'file:///b']

if __name__ == '__main__':
    listed = subprocess.run([sys.executable, '-m', 'pip', 'config', 'list'], capture_output=True, text=True).stdout
    print(shlex.join(uv_index_args(listed)))
