"""Side-by-side table of `... -- gemm` logs (ours) and gemm_torch.py logs (PyTorch), best over
all the logs given of each, as a markdown table with ratios.

    for i in 1 2 3; do
      dotnet run -c Release --project bench/VectorRecall.Benchmarks -- gemm > ours_$i.log
      /usr/bin/python3 bench/anchors/gemm_torch.py > torch_$i.log
    done
    python3 bench/anchors/gemm_compare.py --ours ours_*.log --torch torch_*.log
"""
import argparse, re

def parse(paths, pattern, order):
    table = {}
    for path in paths:
        for line in open(path):
            m = re.match(pattern, line.strip())
            if not m:
                continue
            g = m.groupdict()
            key = (" ".join(g["name"].split()), int(g["threads"]))
            best, median = float(g["best"]), float(g["median"])
            old = table.get(key, (0.0, 0.0))
            table[key] = (max(old[0], best), max(old[1], median))
            if key not in order:
                order.append(key)
    return table

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ours", nargs="+", required=True)
    ap.add_argument("--torch", nargs="+", required=True)
    ap.add_argument("--peak", type=float, default=128.0, help="GFLOP/s per core (2 FMA x 16 x 2 x clock)")
    args = ap.parse_args()
    order = []
    ours = parse(args.ours, r"(?P<name>(fwd|dX|dW|dH|dE)\s.*?)\s+(?P<threads>\d)\s+(?P<best>[\d.]+)\s+\d+%\s+(?P<median>[\d.]+)$", order)
    torch = parse(args.torch, r"torch \S+ threads (?P<threads>\d) (?P<name>.*?)\s+best\s+(?P<best>[\d.]+) median\s+(?P<median>[\d.]+)", [])
    print("| shape | threads | ours best | % of peak per core | torch best | ratio | ours median | torch median | ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for key in order:
        (b, m), (tb, tm) = ours[key], torch.get(key, (float("nan"), float("nan")))
        name, t = key
        print(f"| {name} | {t} | {b:.1f} | {100 * b / args.peak / t:.0f}% | {tb:.1f} | {b / tb:.2f} | {m:.1f} | {tm:.1f} | {m / tm:.2f} |")

if __name__ == "__main__":
    main()
