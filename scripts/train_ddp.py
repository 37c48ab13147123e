"""Train a course classifier data-parallel: one process per device, fastai's `distrib_ctx` (which uses Hugging
Face Accelerate), and the exported model written by rank 0 only.

    # N GPUs on one machine (NCCL backend, one process per GPU):
    torchrun --standalone --nproc_per_node=N scripts/train_ddp.py --out models/ddp

    # 2 CPU processes (gloo backend): the same code path, for testing without GPUs
    OMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node=2 scripts/train_ddp.py --backend gloo --budget test --out /tmp/ddp

    # without torchrun: one ordinary process (the baseline to compare with)
    python scripts/train_ddp.py --budget test --out /tmp/single

`--bs` is the *effective* batch size (all processes together, default: the budget's): each of the N processes
loads bs/N images per step, so one step updates the weights with the same number of images as a single process
would, and the learning rate needs no change. Each rank writes `OUT/ranks/rank<r>.json` (its steps and images);
rank 0 also writes the model (`model.json` + `model.safetensors`, load it with `transfervision.inference.load_model`)
and `OUT/result.json` (validation accuracy and loss on the whole validation set, timings).
"""
import argparse, json, os, sys, time
from dataclasses import replace
from pathlib import Path


def parse(argv=None):
    p = argparse.ArgumentParser(description='Data-parallel training of a transfervision classifier (launch with torchrun).')
    p.add_argument('--dataset', default='doraemon_walle', help='a course dataset name (default doraemon_walle)')
    p.add_argument('--out', required=True, help='folder for the exported model and the logs')
    p.add_argument('--budget', choices=['full', 'cpu', 'test'], default=None, help='preset (default: picked for this machine)')
    p.add_argument('--epochs', type=int, default=1, help='epochs of head training (default 1)')
    p.add_argument('--bs', type=int, default=None, help="effective batch size over all processes (default: the budget's)")
    p.add_argument('--lr', type=float, default=2e-3, help='peak learning rate of the one-cycle schedule (default 2e-3)')
    p.add_argument('--size', type=int, default=None, help="image size (default: the budget's)")
    p.add_argument('--arch', default=None, help="architecture (default: the budget's)")
    p.add_argument('--backend', choices=['auto', 'nccl', 'gloo'], default='auto',
                   help='communication backend: nccl for GPUs, gloo for CPUs (default: nccl if CUDA is available)')
    p.add_argument('--seed', type=int, default=42)
    return p.parse_args(argv)


def init_distributed(backend: str) -> tuple[int, int, str]:
    "Join the process group torchrun described in the environment (RANK, WORLD_SIZE, MASTER_ADDR...): (rank, world, backend)."
    import torch, torch.distributed as dist
    world, rank = int(os.environ.get('WORLD_SIZE', 1)), int(os.environ.get('RANK', 0))
    if backend == 'auto': backend = 'nccl' if torch.cuda.is_available() else 'gloo'
    if world > 1 and not dist.is_initialized():
        if backend == 'nccl': torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', 0)))   # one GPU per process
        dist.init_process_group(backend=backend, init_method='env://')
    return rank, world, backend


def patch_fastai_for_gloo():
    """fastai's `DistributedDL` shares the shuffled order by broadcasting a tensor it always moves to CUDA (NCCL can
    only send GPU tensors). gloo sends CPU tensors, so on CPUs we broadcast from the CPU instead."""
    import torch, torch.distributed as dist
    from fastai.distributed import DistributedDL
    def _broadcast(self, t, rank):
        dev = 'cuda' if dist.get_backend() == 'nccl' else 'cpu'
        t = torch.tensor(t, dtype=torch.long, device=dev)
        dist.broadcast(t, rank)
        return t.cpu().tolist()
    DistributedDL._broadcast = _broadcast


def step_logger(rank: int, world: int, path: Path):
    "A fastai callback counting this process's optimiser steps and training images, written to `path` after fit."
    from fastai.callback.core import Callback
    from fastai.torch_core import find_bs
    class RankLog(Callback):
        order = 100
        def before_fit(self): self.steps, self.images, self.t0 = 0, 0, time.time()
        def after_batch(self):
            if self.training: self.steps += 1; self.images += find_bs(self.yb)
        def after_fit(self):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(dict(rank=rank, world_size=world, steps=self.steps, images=self.images,
                                            seconds=round(time.time() - self.t0, 1), pid=os.getpid())))
    return RankLog()


def main(argv=None):
    a = parse(argv)
    rank, world, backend = init_distributed(a.backend)
    import torch
    from fastai.distributed import distrib_ctx  # noqa: F401  (adds Learner.distrib_ctx)
    from fastai.vision.all import accuracy
    from transfervision.core import get_budget, seed_everything
    from transfervision.data import dataset_dls
    from transfervision.models import make_learner
    from transfervision.train import train_head
    from transfervision.inference import export_model
    if backend == 'gloo': patch_fastai_for_gloo()
    out = Path(a.out)
    budget = get_budget(a.dataset, name=a.budget, verbose=rank == 0,
                        **{k: v for k, v in dict(size=a.size, arch=a.arch).items() if v is not None})
    bs = a.bs or budget.bs
    if bs % world: raise SystemExit(f"--bs {bs} is not divisible by the {world} processes")
    seed_everything(a.seed)                    # same seed everywhere: same split, same new head before DDP syncs it
    dls = dataset_dls(a.dataset, replace(budget, bs=bs // world), seed=a.seed)
    learn = make_learner(dls, arch=budget.arch, metrics=[accuracy])
    if rank == 0:
        print(f"{world} process(es), backend {backend if world > 1 else 'none'}; {bs // world} images per process "
              f"per step, effective batch {bs}; {len(dls.train_ds)} training images", flush=True)
    t0 = time.time()
    cbs = [step_logger(rank, world, out/'ranks'/f'rank{rank}.json')]
    # SyncBatchNorm (batch-norm statistics over all GPUs) exists only on GPUs; on CPUs, Accelerate must be told
    # to run one process per CPU worker (cpu=True), or it would see no GPU and not wrap the model at all.
    with learn.distrib_ctx(sync_bn=backend == 'nccl', **(dict(cpu=True) if backend == 'gloo' else {})):
        with learn.no_bar(), learn.no_logging(): train_head(learn, a.epochs, lr=a.lr, cbs=cbs)
    train_s = time.time() - t0
    # Every rank validates: with WORLD_SIZE set, fastai gathers metric values from all processes, so a validation
    # run on rank 0 alone would wait forever for the others. Each rank sees the whole validation set here.
    with learn.no_bar(), learn.no_logging(): loss, acc = (float(v) for v in learn.validate())
    if rank == 0:                              # one writer: the other ranks hold the same weights
        export_model(learn, out)
        (out/'result.json').write_text(json.dumps(dict(world_size=world, backend=backend if world > 1 else None,
            effective_bs=bs, per_process_bs=bs // world, epochs=a.epochs, lr=a.lr, valid_loss=loss, accuracy=acc,
            n_valid=len(dls.valid_ds), train_seconds=round(train_s, 1)), indent=2))
        print(f"accuracy {acc:.3f}, valid loss {loss:.4f} on {len(dls.valid_ds)} images; training {train_s:.0f} s; "
              f"model written to {out}", flush=True)
    if world > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


if __name__ == '__main__': main()
