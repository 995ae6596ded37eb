"""torch.mm throughput on the two-tower trainer's GEMM shapes, for side-by-side ratios with
`vrecall bench gemm`. Run with the system interpreter: /usr/bin/python3 bench/anchors/gemm_torch.py"""
import sys, time
import torch

# (name, m, n, k, transA, transB): C[m×n] = op(A)[m×k] · op(B)[k×n], same list as GemmShapes.cs
SHAPES = [
    ("fwd  [1024x192]x[192x256]", 1024, 256, 192, False, False),
    ("fwd  [11264x192]x[192x256]", 11264, 256, 192, False, False),
    ("fwd  [11264x256]x[256x128]", 11264, 128, 256, False, False),
    ("dX   [1024x256]x[192x256]^T", 1024, 192, 256, False, True),
    ("dX   [11264x256]x[192x256]^T", 11264, 192, 256, False, True),
    ("dX   [11264x128]x[256x128]^T", 11264, 256, 128, False, True),
    ("dW   [1024x192]^T x[1024x256]", 192, 256, 1024, True, False),
    ("dW   [11264x192]^T x[11264x256]", 192, 256, 11264, True, False),
    ("dW   [11264x256]^T x[11264x128]", 256, 128, 11264, True, False),
]

def run(threads, seconds=1.0):
    torch.set_num_threads(threads)
    for name, m, n, k, ta, tb in SHAPES:
        a = torch.randn(k, m) if ta else torch.randn(m, k)
        b = torch.randn(n, k) if tb else torch.randn(k, n)
        opa = a.t() if ta else a
        opb = b.t() if tb else b
        c = torch.empty(m, n)
        for _ in range(3):
            torch.mm(opa, opb, out=c)
        reps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            torch.mm(opa, opb, out=c)
            reps += 1
        dt = time.perf_counter() - t0
        print(f"torch threads {threads} {name:34s} {2.0 * m * n * k * reps / dt / 1e9:8.1f} GFLOP/s", flush=True)

if __name__ == "__main__":
    print(f"torch {torch.__version__}")
    for t in (1, 2):
        run(t)
