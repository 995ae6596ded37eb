#!/usr/bin/env python3
"""The sequence user encoder's PyTorch twin, for epoch time side by side with `vrecall train --user-encoder sequence`.

Same model and step as VectorRecall's defaults (SequenceEncoder + SequenceTrainer): item embedding * sqrt(d) plus a
learned position of a right-aligned window, dropout, pre-norm blocks (separate q/k/v/out projections, causal
attention that never reads padding, a Linear-GELU(tanh)-Dropout-Linear feed-forward as wide as the model, dropout
on each residual branch), a final layer norm, the item table tied to the output; at every position the full
softmax (--negatives 0) or a sampled one over shared uniform negatives with accidental hits masked; batches of users, Adam at a constant rate.
VectorRecall packs a batch's sequences without padding; PyTorch's dense tensors cannot, so by default each run
of 32 batches of the shuffle is sorted by length before cutting (a batch is padded to about its own length),
the closest equivalent; --no-buckets pads every random batch to its longest user.

usage: /usr/bin/python3 sequence_torch.py --data ../../../shared/data/amazon-beauty/Beauty.txt [--epochs 3]
       [--dim 64 --blocks 2 --heads 1 --max-len 50 --dropout 0.5 --negatives 1024 --batch 128 --lr 1e-3
        --threads 2 --no-buckets]   (--negatives 0: the full softmax)
Prints seconds per training epoch (no validation) and the mean over all but the first.
"""
import argparse, math, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--data", required=True)
p.add_argument("--epochs", type=int, default=3)
p.add_argument("--dim", type=int, default=64); p.add_argument("--blocks", type=int, default=2)
p.add_argument("--heads", type=int, default=1); p.add_argument("--max-len", type=int, default=50)
p.add_argument("--dropout", type=float, default=0.5); p.add_argument("--negatives", type=int, default=1024)
p.add_argument("--batch", type=int, default=128); p.add_argument("--lr", type=float, default=1e-3)
p.add_argument("--threads", type=int, default=2); p.add_argument("--seed", type=int, default=42)
p.add_argument("--no-buckets", action="store_true")
a = p.parse_args()
torch.set_num_threads(a.threads); torch.manual_seed(a.seed); rng = np.random.default_rng(a.seed)

seqs = []
for line in open(a.data):
    parts = line.split()
    if len(parts) >= 2: seqs.append([int(x) for x in parts[1:]])
n_items = max(max(s) for s in seqs)          # ids 1..n_items are tokens; 0 is padding
L = a.max_len
windows = []                                 # the latest L + 1 training items (validation and test items held out)
for s in seqs:
    t = s[:-2]
    if len(t) >= 2: windows.append(t[-(L + 1):])


def dropout(x):
    # Debian's torch 1.13 draws bernoulli masks slowly; the same distribution from rand
    return x * (torch.rand_like(x) >= a.dropout) / (1 - a.dropout) if model.training and a.dropout > 0 else x


class Block(nn.Module):
    def __init__(s):
        super().__init__()
        s.ln1 = nn.LayerNorm(a.dim); s.q = nn.Linear(a.dim, a.dim); s.k = nn.Linear(a.dim, a.dim); s.v = nn.Linear(a.dim, a.dim)
        s.out = nn.Linear(a.dim, a.dim); s.ln2 = nn.LayerNorm(a.dim); s.ff1 = nn.Linear(a.dim, a.dim); s.ff2 = nn.Linear(a.dim, a.dim)

    def forward(s, x, mask):
        B, T, D = x.shape; H = a.heads
        h = s.ln1(x)
        q, k, v = (f(h).view(B, T, H, D // H).transpose(1, 2) for f in (s.q, s.k, s.v))
        att = ((q @ k.transpose(-1, -2)) / math.sqrt(D // H)).masked_fill(mask[:, None], -1e9).softmax(-1)
        x = x + dropout(s.out((att @ v).transpose(1, 2).reshape(B, T, D)))
        return x + dropout(s.ff2(dropout(F.gelu(s.ff1(s.ln2(x)), approximate="tanh"))))


class Encoder(nn.Module):
    def __init__(s):
        super().__init__()
        s.item = nn.Embedding(n_items + 1, a.dim); s.pos = nn.Embedding(L, a.dim)
        s.blocks = nn.ModuleList(Block() for _ in range(a.blocks)); s.ln = nn.LayerNorm(a.dim)
        s.register_buffer("causal", torch.triu(torch.ones(L, L, dtype=torch.bool), 1))
        nn.init.normal_(s.item.weight, std=1 / a.dim); nn.init.normal_(s.pos.weight, std=a.dim ** -0.5)  # as SequenceEncoder starts

    def forward(s, x):
        T = x.shape[1]
        pad = x == 0
        h = dropout(s.item(x) * math.sqrt(a.dim) + s.pos.weight[L - T:][None])
        # a query never reads a later position or padding; a padded query reads itself so no row is empty
        eye = torch.eye(T, dtype=torch.bool)
        mask = (s.causal[:T, :T][None] | pad[:, None, :]) & ~(eye[None] & pad[:, :, None])
        for b in s.blocks: h = b(h, mask)
        return s.ln(h)


model = Encoder(); opt = torch.optim.Adam(model.parameters(), lr=a.lr)


def batches(order):
    if not a.no_buckets:
        full = len(order) // a.batch * a.batch
        for start in range(0, full, 32 * a.batch):
            part = order[start:min(full, start + 32 * a.batch)]
            order[start:start + len(part)] = sorted(part, key=lambda i: len(windows[i]))
        cut = [order[i:i + a.batch] for i in range(0, full, a.batch)]
        rng.shuffle(cut)
        cut += [order[full:]] if full < len(order) else []
    else:
        cut = [order[i:i + a.batch] for i in range(0, len(order), a.batch)]
    for b in cut:
        if len(b) < 2: continue
        T = max(len(windows[i]) for i in b) - 1
        x = torch.zeros(len(b), T, dtype=torch.long); y = torch.zeros(len(b), T, dtype=torch.long)
        for r, i in enumerate(b):
            w = windows[i]
            x[r, T - len(w) + 1:] = torch.tensor(w[:-1]); y[r, T - len(w) + 1:] = torch.tensor(w[1:])
        yield x, y


times = []
for epoch in range(1, a.epochs + 1):
    model.train(); order = list(rng.permutation(len(windows))); t0 = time.perf_counter(); total = steps = 0
    for x, y in batches(order):
        h = model(x); m = y > 0
        hv, yv = h[m], y[m]
        E = model.item.weight
        if a.negatives == 0:                  # the full softmax over every item
            loss = F.cross_entropy(hv @ E[1:].T, yv - 1)
        else:
            neg = torch.from_numpy(rng.integers(1, n_items + 1, a.negatives))
            logits = torch.cat([(hv * E[yv]).sum(1, keepdim=True), (hv @ E[neg].T).masked_fill(neg[None] == yv[:, None], -1e9)], 1)
            loss = F.cross_entropy(logits, torch.zeros(len(yv), dtype=torch.long))
        opt.zero_grad(); loss.backward(); opt.step(); total += loss.item(); steps += 1
    times.append(time.perf_counter() - t0)
    print(f"epoch {epoch}: loss {total / steps:.4f} {times[-1]:.2f} s ({len(windows)} users, {steps} steps)", flush=True)
rest = times[1:] or times
print(f"seconds_per_epoch {sum(rest) / len(rest):.2f} (mean of epochs {2 if len(times) > 1 else 1}..{len(times)}; buckets {'off' if a.no_buckets else 'on'})")
