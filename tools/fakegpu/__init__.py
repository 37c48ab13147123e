"""An emulated GPU for tests: `cuda` becomes a device that keeps its values in host memory and computes with the
CPU kernels, but is a separate device to PyTorch. See README.md in this folder for what it does and does not do.

    import sys; sys.path.insert(0, 'tools')
    import fakegpu
    fakegpu.activate()        # builds (once, cached) and loads the C++ backend, maps `cuda` onto it in this thread
    torch.cuda.is_available() # True
    x = torch.ones(3).cuda()  # on the emulated GPU; x + torch.ones(3) raises "Expected all tensors to be on the same device"
    fakegpu.deactivate()

`activate()` patches `torch.cuda`'s queries and `torch.load` process-wide, and enters a `TorchFunctionMode` that
maps `cuda` device arguments onto the emulated device in the calling thread and in every thread started after it
(modes are thread-local); `enter_thread()` does it in a thread that was already running.
"""
from __future__ import annotations
import os, re, types, hashlib, threading, warnings
from pathlib import Path
from types import SimpleNamespace

import torch
from torch.overrides import TorchFunctionMode

NAME = 'fakegpu'            # what PyTorch calls the backend (torch.device('fakegpu'))
HERE = Path(__file__).resolve().parent
SOURCE = HERE/'fakegpu.cpp'
DEVICE_NAME = 'Emulated GPU (host memory, CPU kernels)'
_CUDA = re.compile(r'^cuda(:\d+)?$')
_state = dict(loaded=False, active=False, originals={})
_local = threading.local()


def build_dir() -> Path:
    "Where the compiled backend is cached: `FAKEGPU_BUILD`, else ~/.cache/transfervision/fakegpu/<torch>-<source hash>."
    if os.environ.get('FAKEGPU_BUILD'): return Path(os.environ['FAKEGPU_BUILD']).expanduser()
    tag = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:12]
    return Path.home()/'.cache'/'transfervision'/'fakegpu'/f"torch-{torch.__version__.replace('+', '_')}-{tag}"


def _device_module():
    "What `torch.fakegpu` is: the queries torch.load, torch.manual_seed and Module.to ask a PrivateUse1 backend."
    m = types.ModuleType(f'torch.{NAME}')
    m.is_available = lambda: True
    m.device_count = lambda: 1
    m.current_device = lambda: 0
    m.is_initialized = lambda: True
    m._is_in_bad_fork = lambda: False
    m.manual_seed_all = m.manual_seed = lambda seed: None   # its random numbers are the CPU generator's
    m.synchronize = lambda device=None: None
    class device:   # `with torch.fakegpu.device(d):` (torch.storage's .to() uses it): one device, nothing to switch
        def __init__(self, device): self.device = device
        def __enter__(self): return self
        def __exit__(self, *exc): return False
    m.device = device
    return m


def load(verbose: bool = False) -> Path:
    "Build (the first time: ~20 s with g++ and ninja, then cached in `build_dir()`) and load the backend; idempotent."
    if _state['loaded']: return build_dir()
    from torch.utils.cpp_extension import load as load_ext
    if torch._C._get_privateuse1_backend_name() != NAME: torch.utils.rename_privateuse1_backend(NAME)
    d = build_dir(); d.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        load_ext(name='fakegpu_backend', sources=[str(SOURCE)], build_directory=str(d), is_python_module=False,
                 extra_cflags=['-O2'], verbose=verbose)
    torch._register_device_module(NAME, _device_module())
    _state['loaded'] = True
    return d


def _to_fake(v):
    "`v` with a `cuda` device (string or torch.device) mapped onto the emulated device; anything else unchanged."
    if isinstance(v, str): return NAME + v[4:] if _CUDA.match(v) else v
    if isinstance(v, torch.device) and v.type == 'cuda': return torch.device(NAME, v.index if v.index is not None else 0)
    return v


_CUDA0 = torch.device('cuda', 0)
_DEVICE_PROP, _IS_CUDA_PROP, _TENSOR_CUDA = torch.Tensor.device, torch.Tensor.is_cuda, torch.Tensor.cuda


class CudaOnFakeGPU(TorchFunctionMode):
    "Maps `cuda` device arguments of every torch function onto the emulated GPU; its tensors report `cuda:0`."
    def __torch_function__(self, func, types, args=(), kwargs=None):
        owner = getattr(func, '__self__', None)
        if owner is _DEVICE_PROP:          # tensor.device: the emulated device is cuda:0 to the code that asks
            d = func(*args)
            return _CUDA0 if d.type == NAME else d
        if owner is _IS_CUDA_PROP: return args[0].device.type == NAME or func(*args)
        if func is torch.device:          # torch.device('cuda') stays a cuda device: it is mapped where it is used
            if len(args) == 1 and isinstance(args[0], int) and not kwargs: return torch.device('cuda', args[0])  # as with CUDA
            return func(*args, **(kwargs or {}))
        if func is _TENSOR_CUDA:          # tensor.cuda(device=None, non_blocking=False, memory_format=...)
            t, rest = args[0], list(args[1:])
            kw = dict(kwargs or {})
            dev = kw.pop('device', rest.pop(0) if rest else None)
            nb = kw.pop('non_blocking', rest.pop(0) if rest else False)
            idx = dev if isinstance(dev, int) else (torch.device(dev).index if dev is not None else None)
            return t.to(torch.device(NAME, idx or 0), non_blocking=nb, **kw)
        args = tuple(_to_fake(a) for a in args)
        if kwargs:
            kwargs = {k: _to_fake(v) for k, v in kwargs.items()}
            return func(*args, **kwargs)
        return func(*args)


def _host_memory() -> tuple[int, int]:
    try: return os.sysconf('SC_AVPHYS_PAGES') * os.sysconf('SC_PAGE_SIZE'), os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')
    except (ValueError, OSError, AttributeError): return 8 << 30, 16 << 30


def _properties(device=None):
    free, total = _host_memory()
    return SimpleNamespace(name=DEVICE_NAME, total_memory=total, major=8, minor=0, multi_processor_count=os.cpu_count() or 1,
                           is_integrated=False, uuid='fakegpu-0')


def _check_index(device=None):
    idx = device if isinstance(device, int) else getattr(torch.device(device), 'index', None) if device is not None else None
    if idx not in (None, 0, -1): raise RuntimeError(f"CUDA error: invalid device ordinal (the emulated GPU has one device, not {idx})")


def _cuda_patches() -> dict:
    "The `torch.cuda` queries, answered for one emulated device."
    free_total = _host_memory
    return dict(
        is_available=lambda: True, device_count=lambda: 1, current_device=lambda: 0, is_initialized=lambda: True,
        set_device=_check_index, get_device_name=lambda device=None: DEVICE_NAME,
        get_device_capability=lambda device=None: (8, 0), get_device_properties=_properties,
        synchronize=lambda device=None: None, empty_cache=lambda: None, ipc_collect=lambda: None,
        memory_allocated=lambda device=None: 0, max_memory_allocated=lambda device=None: 0,
        memory_reserved=lambda device=None: 0, max_memory_reserved=lambda device=None: 0,
        reset_peak_memory_stats=lambda device=None: None, reset_max_memory_allocated=lambda device=None: None,
        mem_get_info=lambda device=None: free_total(), is_bf16_supported=lambda including_emulation=True: False,
        manual_seed=lambda seed: None, manual_seed_all=lambda seed: None, seed=lambda: None, seed_all=lambda: None,
        _lazy_init=lambda: None,
    )


def _map_location(m):
    if isinstance(m, dict): return {k: _to_fake(v) for k, v in m.items()}
    return _to_fake(m)


def _patched_load(orig):
    def load(f, map_location=None, *args, **kwargs):
        return orig(f, _map_location(map_location), *args, **kwargs)
    load.__wrapped__ = orig
    return load


def enter_thread():
    "Map `cuda` onto the emulated GPU in the calling thread (modes are thread-local); idempotent per thread."
    if getattr(_local, 'mode', None) is not None: return
    _local.mode = CudaOnFakeGPU()
    _local.mode.__enter__()


def exit_thread():
    "Undo `enter_thread` in the calling thread."
    m = getattr(_local, 'mode', None)
    if m is not None: m.__exit__(None, None, None); _local.mode = None


_thread_bootstrap = threading.Thread._bootstrap_inner

def _bootstrap_inner(self):
    "Start a thread with `cuda` mapped, as a GPU is there for every thread (a web app's handlers, a thread pool's workers)."
    if _state['active']:
        try: enter_thread()
        except Exception: pass
    _thread_bootstrap(self)


def activate(verbose: bool = False):
    "Load the backend, answer `torch.cuda`'s queries for one emulated device, map `cuda` onto it in this thread."
    load(verbose)
    if not _state['active']:
        orig = _state['originals']
        for k, v in _cuda_patches().items():
            orig[('cuda', k)] = getattr(torch.cuda, k, None); setattr(torch.cuda, k, v)
        orig[('torch', 'load')] = torch.load; torch.load = _patched_load(torch.load)
        orig[('Tensor', 'pin_memory')] = torch.Tensor.pin_memory
        torch.Tensor.pin_memory = lambda self, device=None: self    # pinned memory: ordinary host memory
        orig[('Thread', '_bootstrap_inner')] = threading.Thread._bootstrap_inner
        threading.Thread._bootstrap_inner = _bootstrap_inner         # threads started from now on map cuda too
        _state['active'] = True
    enter_thread()


def deactivate():
    "Undo `activate` (the backend stays loaded: a library cannot be unloaded)."
    exit_thread()
    if not _state['active']: return
    for (where, k), v in _state['originals'].items():
        obj = {'cuda': torch.cuda, 'torch': torch, 'Tensor': torch.Tensor, 'Thread': threading.Thread}[where]
        if v is None: delattr(obj, k)
        else: setattr(obj, k, v)
    _state['originals'].clear(); _state['active'] = False


def is_active() -> bool: return _state['active']


def device() -> torch.device:
    "The emulated device as PyTorch names it (what tensors on it really are)."
    return torch.device(NAME, 0)


def is_fake(t: torch.Tensor) -> bool:
    "True when `t` lives on the emulated GPU (whatever `t.device` reports under the mapping)."
    with torch._C.DisableTorchFunction(): return t.device.type == NAME
