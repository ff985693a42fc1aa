"""Python PyTorch's DistributedDataParallel on the same task as
//experiments:lenet, for //benchmarks:data_parallel: the tutorial's LeNet on
Fashion-MNIST (same preprocessing), SGD lr 0.01 momentum 0.9, a global batch
split over the ranks as ours is (rank r takes every world-size-th sample of
each global batch of a seeded permutation), Gloo, one intra-op thread.
Launched by torchrun; rank 0 prints {"samples_per_second": ...} for the
training steps alone (no evaluation), as metrics.jsonl's seconds measure ours.

  ddp_lenet.py TRAIN_SAMPLES GLOBAL_BATCH
"""
import json
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from pytorch_lenet import GarmentClassifier, load  # noqa: E402


def main():
    samples, global_batch = int(sys.argv[1]), int(sys.argv[2])
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    x, y = load("train")
    x, y = x[:samples], y[:samples]
    torch.manual_seed(1)
    net = torch.nn.parallel.DistributedDataParallel(GarmentClassifier())
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    order = torch.randperm(samples, generator=torch.Generator().manual_seed(1))
    dist.barrier()
    start = time.perf_counter()
    for begin in range(0, samples, global_batch):
        indices = order[begin:begin + global_batch][rank::world]
        optimizer.zero_grad()
        loss = F.cross_entropy(net(x[indices]), y[indices])
        loss.backward()
        optimizer.step()
        # Ours reports the global loss every step; so does this.
        reported = loss.detach() * len(indices)
        dist.all_reduce(reported)
    seconds = time.perf_counter() - start
    if rank == 0:
        print(json.dumps({"samples_per_second": samples / seconds, "seconds": seconds}))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
