"""Outgrowing one CPU: train the notes' MNIST CNN with PyTorch DistributedDataParallel, then bring the
weights back to glassnet and evaluate there.

    pip install "glassnet[torch]"
    torchrun --nproc_per_node=2 --master_addr=127.0.0.1 --master_port=29500 examples/ddp_mnist.py --steps 300

Each process (a "rank") holds a full copy of the model and trains on its own shard of every batch;
after each backward pass DDP averages the gradients over all ranks (an all-reduce over gloo, the CPU
backend), so every rank takes the same optimizer step and the copies stay identical. The same script
runs on several machines with ``torchrun --nnodes=2 --node_rank=... --master_addr=<first machine>``,
and on GPUs with the "nccl" backend (see docs/scaling.md).

1. build the CNN in glassnet (Conv2D(30, 3x3, relu) -> MaxPool -> Flatten -> Dense(100, relu) -> Dense(10, softmax))
2. ``glassnet.export.to_torch`` -> ``torch.nn.Sequential`` (images (N, C, H, W) on the PyTorch side)
3. train it under DDP (Adam, cross-entropy on the logits)
4. check that all ranks hold identical weights; ``glassnet.export.from_torch`` -> evaluate in glassnet
"""
import argparse
import json
import pathlib
import sys
import time

import numpy as np
import torch
import torch.distributed as dist

import glassnet
from glassnet import layers
from glassnet.export import from_torch, to_torch


def notes_cnn():
    return glassnet.Sequential([
        layers.Conv2D(30, (3, 3), activation="relu", input_shape=(28, 28, 1)), layers.MaxPooling2D((2, 2)),
        layers.Flatten(), layers.Dense(100, activation="relu"), layers.Dense(10, activation="softmax")])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps (default 300)")
    parser.add_argument("--batch-size", type=int, default=64, help="images per step and rank (default 64)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 0.001)")
    parser.add_argument("--embedded", action="store_true", help="use the digits shipped with glassnet")
    parser.add_argument("--out", help="folder for rank<N>.npz (weights, losses) and result.json")
    args = parser.parse_args()

    dist.init_process_group("gloo")                  # reads RANK, WORLD_SIZE, MASTER_ADDR/PORT from torchrun
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.set_num_threads(1)                         # one core per process: N processes share the machine
    torch.manual_seed(0)

    glassnet.utils.set_random_seed(0)                # the same initial weights everywhere (DDP also
    model = notes_cnn()                              # broadcasts rank 0's weights when it wraps the module)
    net = to_torch(model).train()                    # Conv2d, ReLU, MaxPool2d, Flatten, Linear, ReLU, Linear, Softmax
    logits = net[:-1]                                # the same parameters without the final Softmax
    ddp = torch.nn.parallel.DistributedDataParallel(logits)
    optimizer = torch.optim.Adam(ddp.parameters(), lr=args.lr, eps=1e-7)   # Keras's epsilon

    (x_train, y_train), (x_test, y_test) = glassnet.datasets.mnist.load_data(embedded=args.embedded)
    x_train = torch.from_numpy((x_train[:, None] / 255.0).astype("float32"))   # (N, 1, 28, 28)
    y_train = torch.from_numpy(y_train.astype("int64"))

    rng = np.random.default_rng(1234)                # the same shuffle on every rank; each takes its slice
    order, position, losses, start = rng.permutation(len(x_train)), 0, [], time.perf_counter()
    for step in range(args.steps):
        if position + args.batch_size * world > len(order):
            order, position = rng.permutation(len(x_train)), 0
        batch = order[position + rank * args.batch_size:position + (rank + 1) * args.batch_size]
        position += args.batch_size * world
        loss = torch.nn.functional.cross_entropy(ddp(x_train[batch]), y_train[batch])
        optimizer.zero_grad()
        loss.backward()                              # DDP all-reduces (averages) the gradients here
        optimizer.step()
        mean_loss = loss.detach().clone()
        dist.all_reduce(mean_loss)                   # for the log: the loss averaged over the ranks
        losses.append(mean_loss.item() / world)
        if rank == 0 and (step % 50 == 0 or step == args.steps - 1):
            print(f"step {step:4d}/{args.steps}  loss {losses[-1]:.4f}  ({time.perf_counter() - start:.1f} s)")

    # every rank must hold the same weights: compare a checksum of all parameters across ranks
    flat = torch.cat([p.detach().flatten() for p in net.parameters()]).double()
    sums = [torch.zeros(2, dtype=torch.float64) for _ in range(world)]
    dist.all_gather(sums, torch.stack([flat.sum(), (flat * torch.arange(len(flat))).sum()]))
    identical = all(torch.equal(s, sums[0]) for s in sums)
    if args.out:
        out = pathlib.Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        np.savez(out / f"rank{rank}.npz", losses=np.array(losses),
                 **{f"p{i}": p.detach().numpy() for i, p in enumerate(net.parameters())})

    if rank == 0:                                    # back to glassnet, evaluated there
        net.eval()
        trained = from_torch(net, (28, 28, 1))
        x = (x_test[:, :, :, None] / 255.0).astype("float32")
        probs = trained.predict(x, batch_size=500, verbose=0)
        accuracy = float((probs.argmax(-1) == y_test).mean())
        with torch.no_grad():
            torch_probs = net(torch.from_numpy(x[:500].transpose(0, 3, 1, 2).copy())).numpy()
        difference = float(np.abs(torch_probs - probs[:500]).max())
        first, last = float(np.mean(losses[:20])), float(np.mean(losses[-20:]))
        print(f"{world} processes, {args.steps} steps of {args.batch_size} images each: loss {first:.3f} -> "
              f"{last:.3f}; ranks identical: {identical}")
        print(f"glassnet test accuracy {accuracy:.4f} on {len(x)} digits; |glassnet - torch| <= {difference:.1e}")
        if args.out:
            result = {"world_size": world, "steps": args.steps, "identical": identical, "loss_first": first,
                      "loss_last": last, "accuracy": accuracy, "max_difference": difference}
            (pathlib.Path(args.out) / "result.json").write_text(json.dumps(result, indent=1))
    dist.destroy_process_group()
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
