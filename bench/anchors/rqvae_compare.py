#!/usr/bin/env python3
"""PyTorch twin of `vrecall rqvae train` for a side-by-side epoch time (Debian python3-torch, CPU).

Same model and step as src/VectorRecall/SemanticIds: MLP encoder in_dim -> layers -> e_dim and its
mirror (Linear + ReLU, Xavier-normal weights, zero biases, no batch norm or dropout), residual
quantiser with squared-L2 nearest codes, straight-through output z + sg(sum q - z), loss =
MSE reconstruction + mean over levels of (codebook + beta * commitment), AdamW (lr 1e-3, weight
decay 1e-4), batch 1024, shuffled every epoch. Codebooks start from k-means (Lloyd, 20 steps
here: initialisation is not part of the timed epochs).

usage: /usr/bin/python3 bench/anchors/rqvae_compare.py --data ../shared/data/instruments/Instruments-32d-sasrec.npy
       [--epochs 6 --threads 2 --num-emb-list 256 256 256]
Prints one line per epoch and 'seconds_per_epoch X' (the mean over epochs 2..N).
"""
import argparse
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--data", required=True)
p.add_argument("--layers", type=int, nargs="+", default=[2048, 1024, 512, 256, 128, 64])
p.add_argument("--e-dim", type=int, default=32)
p.add_argument("--num-emb-list", type=int, nargs="+", default=[256, 256, 256])
p.add_argument("--beta", type=float, default=0.25)
p.add_argument("--batch-size", type=int, default=1024)
p.add_argument("--epochs", type=int, default=6)
p.add_argument("--threads", type=int, default=2)
args = p.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(0)
items = torch.from_numpy(np.load(args.data).astype(np.float32))


def mlp(sizes):
    layers = []
    for i in range(len(sizes) - 1):
        linear = nn.Linear(sizes[i], sizes[i + 1])
        nn.init.xavier_normal_(linear.weight)
        nn.init.zeros_(linear.bias)
        layers.append(linear)
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def kmeans(x, k, steps=20):
    centres = x[torch.randperm(len(x))[:k]].clone()
    for _ in range(steps):
        assign = torch.cdist(x, centres).argmin(1)
        sums = torch.zeros_like(centres).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k).clamp(min=1).unsqueeze(1)
        centres = sums / counts
    return centres


class RqVae(nn.Module):
    def __init__(self, in_dim):
        super().__init__()
        sizes = [in_dim] + args.layers + [args.e_dim]
        self.encoder, self.decoder = mlp(sizes), mlp(sizes[::-1])
        self.books = nn.ParameterList(nn.Parameter(torch.empty(k, args.e_dim)) for k in args.num_emb_list)

    @torch.no_grad()
    def init_codebooks(self, x):
        residual = self.encoder(x)
        for book in self.books:
            book.copy_(kmeans(residual, len(book)))
            residual = residual - book[torch.cdist(residual, book).argmin(1)]

    def forward(self, x):
        z = self.encoder(x)
        residual, total, qloss = z, torch.zeros_like(z), 0.0
        for book in self.books:
            d = residual.detach().pow(2).sum(1, keepdim=True) + book.detach().pow(2).sum(1) - 2 * residual.detach() @ book.detach().T
            q = book[d.argmin(1)]
            qloss = qloss + F.mse_loss(q, residual.detach()) + args.beta * F.mse_loss(q.detach(), residual)
            total = total + q.detach()
            residual = residual - q.detach()
        quantized = z + (total - z).detach()
        return F.mse_loss(self.decoder(quantized), x) + qloss / len(self.books)


model = RqVae(items.shape[1])
model.init_codebooks(items)
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
times = []
for epoch in range(1, args.epochs + 1):
    start = time.perf_counter()
    order = torch.randperm(len(items))
    total = 0.0
    for s in range(0, len(items), args.batch_size):
        loss = model(items[order[s:s + args.batch_size]])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item()
    times.append(time.perf_counter() - start)
    print(f"epoch {epoch} seconds {times[-1]:.3f} loss {total:.5f}", flush=True)
print(f"seconds_per_epoch {sum(times[1:]) / max(1, len(times) - 1):.3f}")
