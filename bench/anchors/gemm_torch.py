"""torch.mm throughput on the two-tower trainer's GEMM shapes, for side-by-side ratios with
`dotnet run -c Release --project bench/VectorRecall.Benchmarks -- gemm` (same shapes, same
statistics: the best and the median of many short runs).

Run with the system interpreter: /usr/bin/python3 bench/anchors/gemm_torch.py [--rqvae|--sequence]
(--rqvae: the RQ-VAE's shapes, as `-- gemm --rqvae`; --sequence: the sequence encoder's loss, as `-- gemm --sequence`).
Debian's torch calls the system BLAS: install libopenblas0-pthread for a fair anchor (the
reference BLAS is ~50x slower). OpenBLAS keeps its own thread pool, so each thread count runs
in a child process with OPENBLAS_NUM_THREADS set before torch loads.

Each thread count's first line names the OpenBLAS kernel set it runs ("# OpenBLAS core: ..."). Debian 12's
OpenBLAS 0.3.21 predates AMD Zen 5 and runs its Haswell (AVX2) kernels there; OPENBLAS_CORETYPE=SKYLAKEX
selects its AVX-512 kernels, the fair anchor for an AVX-512 machine: report both."""
import os, subprocess, sys, time

# (name, m, n, k, transA, transB): C[m x n] = op(A)[m x k] . op(B)[k x n]; same list as GemmShapes.cs
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

# GemmShape.RqVae: batch 1024 through the 2048- and 1024-wide layers.
RQVAE_SHAPES = [
    ("fwd  [1024x2048]x[1024x2048]^T", 1024, 1024, 2048, False, True),
    ("fwd  [1024x1024]x[2048x1024]^T", 1024, 2048, 1024, False, True),
    ("fwd  [1024x1024]x[512x1024]^T", 1024, 512, 1024, False, True),
    ("dX   [1024x1024]x[1024x2048]", 1024, 2048, 1024, False, False),
    ("dX   [1024x2048]x[2048x1024]", 1024, 1024, 2048, False, False),
    ("dW   [1024x1024]^T x[1024x2048]", 1024, 2048, 1024, True, False),
    ("dW   [1024x2048]^T x[1024x1024]", 2048, 1024, 1024, True, False),
]

# GemmShape.Sequence: a sequence-encoder step's loss over all 12,101 Beauty items (1,046 positions, width 64).
SEQUENCE_SHAPES = [
    ("fwd  [1046x64]x[12101x64]^T", 1046, 12101, 64, False, True),
    ("dH   [1046x12101]x[12101x64]", 1046, 64, 12101, False, False),
    ("dE   [1046x12101]^T x[1046x64]", 12101, 64, 1046, True, False),
]

def blas_core():
    """The kernel set OpenBLAS chose for this CPU (or OPENBLAS_CORETYPE), or why it cannot be told."""
    import ctypes
    try:
        name = ctypes.CDLL("libblas.so.3").openblas_get_corename
        name.restype = ctypes.c_char_p
        return name().decode()
    except (OSError, AttributeError):
        return "unknown (the system BLAS is not OpenBLAS)"

def run(threads, shapes, seconds=1.5):
    import torch
    torch.set_num_threads(threads)
    print(f"# OpenBLAS core: {blas_core()}", flush=True)
    for name, m, n, k, ta, tb in shapes:
        a = torch.randn(k, m) if ta else torch.randn(m, k)
        b = torch.randn(n, k) if tb else torch.randn(k, n)
        opa = a.t() if ta else a
        opb = b.t() if tb else b
        c = torch.empty(m, n)
        for _ in range(3):
            torch.mm(opa, opb, out=c)
        times, t0 = [], time.perf_counter()
        while time.perf_counter() - t0 < seconds or len(times) < 5:
            s = time.perf_counter()
            torch.mm(opa, opb, out=c)
            times.append(time.perf_counter() - s)
        times.sort()
        flops = 2.0 * m * n * k
        print(f"torch {torch.__version__} threads {threads} {name:34s} best {flops / times[0] / 1e9:7.1f} "
              f"median {flops / times[len(times) // 2] / 1e9:7.1f} GFLOP/s", flush=True)

if __name__ == "__main__":
    flag = next((a for a in sys.argv[1:] if a in ("--rqvae", "--sequence")), None)
    shapes = {"--rqvae": RQVAE_SHAPES, "--sequence": SEQUENCE_SHAPES}.get(flag, SHAPES)
    counts = [a for a in sys.argv[1:] if a.isdigit()]
    # A thread count runs here only when OpenBLAS was started with it; otherwise it would run on every core under a "threads N" label.
    if counts and os.environ.get("OPENBLAS_NUM_THREADS") == counts[0]:
        run(int(counts[0]), shapes)
    else:
        for t in ([int(counts[0])] if counts else (1, 2)):
            env = dict(os.environ, OPENBLAS_NUM_THREADS=str(t), OMP_NUM_THREADS=str(t))
            subprocess.run([sys.executable, __file__, str(t)] + ([flag] if flag else []), env=env, check=True)
