"""The emulated GPU's own tests (run by tools/run_tests.py as "emulated GPU (tools/fakegpu/test_fakegpu.py)").

Moving tensors, mixing devices raises CUDA's error, backward, an optimiser step changes the model's own weights,
Module.to keeps the Parameter objects, save/load (map_location included), and a fastai learner on real images
(the Doraemon/Wall-E samples in TRANSFERVISION_DATA): fit_one_cycle, validate, get_preds and lr_find give losses
bit-identical to the same run on the CPU; MixedPrecision (to_fp16) runs. Prints PASS/FAIL per check and
`N passed, N failed`; exits 1 when a check failed.
"""
import os, sys, time, tempfile, threading, warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import torch
from torch import nn
import fakegpu

results = []
REAL = (torch.cuda.is_available, torch.load, torch.Tensor.pin_memory, threading.Thread._bootstrap_inner)


def check(name, ok, detail=''):
    results.append(bool(ok))
    print(f"{'PASS' if ok else 'FAIL'}  {name}{'' if ok or not detail else chr(10) + '      ' + str(detail)}", flush=True)


def raises(fn, text):
    try: fn()
    except Exception as e: return text in str(e), f"{type(e).__name__}: {e}"
    return False, 'no error raised'


def tensors():
    x = torch.arange(12.).view(3, 4)
    g = x.cuda()
    check('.cuda() moves to the emulated GPU; it reports cuda:0, torch.cuda answers for one device',
          fakegpu.is_fake(g) and g.device == torch.device('cuda', 0) and g.is_cuda and not fakegpu.is_fake(x)
          and torch.cuda.is_available() and torch.cuda.device_count() == 1)
    check(".to('cuda'), device='cuda', torch.device('cuda') all land there",
          all(fakegpu.is_fake(t) for t in (x.to('cuda'), torch.zeros(2, device='cuda'), x.to(torch.device('cuda')),
                                           torch.randn(2, 2, device='cuda:0'), x.new_zeros(2, device='cuda'))))
    check('values are the same on both devices, through views and in-place ops',
          torch.equal((g.t() @ g).cpu(), x.t() @ x) and torch.equal(g[1:, ::2].cpu(), x[1:, ::2])
          and torch.equal(g.clone().add_(1).cpu(), x + 1) and g.sum().item() == x.sum().item())
    v = g.view(12); v[0] = 100.
    check('a view shares its base tensor\'s memory', g[0, 0].item() == 100.)
    for name, fn in [('x + cpu tensor', lambda: g + torch.ones(3, 4)), ('cpu matmul weights', lambda: torch.ones(2, 3) @ g),
                     ('nn.Linear on the CPU, input on the GPU', lambda: nn.Linear(4, 2)(g)),
                     ('nn.Conv2d on the CPU, input on the GPU', lambda: nn.Conv2d(3, 4, 3)(torch.ones(1, 3, 8, 8).cuda()))]:
        ok, msg = raises(fn, 'Expected all tensors to be on the same device')
        check(f'mixing devices raises the CUDA error: {name}', ok, msg)
    check('a 0-dim CPU tensor mixes, as on CUDA', fakegpu.is_fake(g * torch.tensor(2.)))
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(2) as ex:   # threads started after activate() (a web app's handlers) map cuda too
        check("threads started after activate() map 'cuda' as well", all(ex.map(lambda i: fakegpu.is_fake(torch.ones(2).to('cuda')), range(4))))
    out = torch.empty(0, device='cuda'); torch.add(g, 1, out=out)
    check('out= resizes a device tensor', out.shape == g.shape and torch.equal(out.cpu(), g.cpu() + 1))


def autograd_and_modules():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                      nn.Dropout(0.5), nn.Linear(8, 2))
    params = list(m.parameters())
    m.cuda()
    check('Module.cuda() keeps the same Parameter objects (optimisers hold them)',
          all(a is b for a, b in zip(params, m.parameters())) and all(fakegpu.is_fake(p) for p in m.parameters()))
    x, y = torch.randn(4, 3, 8, 8).cuda(), torch.tensor([0, 1, 0, 1]).cuda()
    loss = nn.functional.cross_entropy(m(x), y)
    loss.backward()
    check('backward: every parameter gets a gradient on the device',
          all(p.grad is not None and fakegpu.is_fake(p.grad) for p in m.parameters()))
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    before = [p.detach().cpu().clone() for p in m.parameters()]
    opt.step()
    check('an optimiser step changes the model\'s weights', all(not torch.equal(b, p.detach().cpu()) for b, p in zip(before, m.parameters())))
    with tempfile.TemporaryDirectory() as d:
        f = Path(d)/'m.pth'
        torch.save(m.state_dict(), f)
        sd_cpu, sd_gpu, sd_dflt = torch.load(f, map_location='cpu'), torch.load(f, map_location='cuda'), torch.load(f)
        check("save/load: map_location='cpu' gives CPU tensors, 'cuda' and none device tensors, same values",
              all(not fakegpu.is_fake(t) for t in sd_cpu.values()) and all(fakegpu.is_fake(t) for t in sd_gpu.values())
              and all(fakegpu.is_fake(t) for t in sd_dflt.values())
              and all(torch.equal(sd_cpu[k], sd_gpu[k].cpu()) for k in sd_cpu))
        m.load_state_dict(torch.load(f, map_location=torch.device('cuda')))
        check('load_state_dict from a cuda map_location keeps the model on the device', all(fakegpu.is_fake(p) for p in m.parameters()))


def fastai_parity():
    from fastai.vision.all import (ImageDataLoaders, Resize, Learner, accuracy, set_seed, CrossEntropyLossFlat,
                                   create_head, Normalize, imagenet_stats, parent_label)
    from fastai.callback.fp16 import MixedPrecision
    data = os.environ.get('TRANSFERVISION_DATA')
    if not data: return check('fastai parity needs TRANSFERVISION_DATA (the offline samples)', False)
    path = Path(data)/'doraemon-walle'/'imgs'/'train'
    files = [f for c in ('doraemon', 'walle') for f in sorted((path/c).glob('*.jpg'))[:24]]   # 48 real images

    def body():
        return nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                             nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU())

    out = Path(tempfile.mkdtemp(prefix='fakegpu-test-'))

    def run(device, fp16=False):
        set_seed(42, reproducible=True)
        dls = ImageDataLoaders.from_path_func(path, files, parent_label, valid_pct=0.25, seed=42, item_tfms=Resize(32), bs=8,
                                              batch_tfms=Normalize.from_stats(*imagenet_stats), num_workers=0, device=device)
        set_seed(42, reproducible=True)
        model = nn.Sequential(body(), create_head(32, dls.c))
        learn = Learner(dls, model, loss_func=CrossEntropyLossFlat(), metrics=accuracy, cbs=[MixedPrecision()] if fp16 else [],
                        path=out)   # lr_find saves the model while it searches: never into the (read-only) dataset folder
        with learn.no_bar(), learn.no_logging():
            learn.fit_one_cycle(2, 1e-2)
            val = learn.validate()
            preds, targs = learn.get_preds()
            lrf = learn.lr_find(num_it=10, show_plot=False)
        return dict(losses=torch.stack(list(learn.recorder.losses)).cpu(), val=[float(v) for v in val],
                    preds=preds.cpu(), lrf=[float(v) for v in learn.recorder.losses], dev=learn.dls.device,
                    on_fake=fakegpu.is_fake(next(learn.model.parameters())), suggestion=float(lrf.valley))

    t0 = time.perf_counter(); cpu = run(torch.device('cpu')); t_cpu = time.perf_counter() - t0
    t0 = time.perf_counter(); gpu = run(torch.device('cuda')); t_gpu = time.perf_counter() - t0
    check(f"fastai on the emulated GPU: the model ran on it (dls.device={gpu['dev']})", gpu['on_fake'] and not cpu['on_fake'])
    check('fit_one_cycle: every training loss bit-identical to the CPU run', torch.equal(cpu['losses'], gpu['losses']),
          f"cpu {cpu['losses'][:4].tolist()} gpu {gpu['losses'][:4].tolist()}")
    check(f"validate: bit-identical ({gpu['val']})", cpu['val'] == gpu['val'], f"cpu {cpu['val']} gpu {gpu['val']}")
    check('get_preds: bit-identical predictions', torch.equal(cpu['preds'], gpu['preds']))
    check(f"lr_find: bit-identical losses and suggestion ({gpu['suggestion']:.2e})", cpu['lrf'] == gpu['lrf'] and cpu['suggestion'] == gpu['suggestion'])
    print(f"      time: CPU {t_cpu:.1f} s, emulated GPU {t_gpu:.1f} s ({t_gpu / t_cpu:.2f}x)")
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        amp = run(torch.device('cuda'), fp16=True)
    check('MixedPrecision (to_fp16) runs: fp32 arithmetic, GradScaler scaling exactly, losses as without it',
          torch.allclose(amp['losses'], gpu['losses'], rtol=1e-4), f"amp {amp['losses'][:4].tolist()}")


def main():
    t0 = time.perf_counter()
    d = fakegpu.load()
    print(f"backend loaded from {d} ({time.perf_counter() - t0:.1f} s, compiled when not cached)")
    fakegpu.activate()
    try:
        tensors(); autograd_and_modules(); fastai_parity()
    finally: fakegpu.deactivate()
    check('deactivate: torch.cuda and torch.load are the real ones again',
          torch.cuda.is_available is REAL[0] and torch.load is REAL[1] and torch.Tensor.pin_memory is REAL[2]
          and threading.Thread._bootstrap_inner is REAL[3])
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed ({time.perf_counter() - t0:.0f} s)")
    sys.exit(1 if failed else 0)


if __name__ == '__main__': main()
