#!/usr/bin/env python3
"""Recall against QPS for our HNSW (each storage kind) and the anchors on the same files in one sitting.

Runs `vrecall bench ann --json` for each storage in --storages, then hnswlib 0.6.2 and faiss 1.7.3 (IndexHNSWFlat and
IndexHNSWSQ with 8-bit codes) built with the same M and efConstruction, every query one at a time on one
thread (best of --runs passes), and writes all rows to OUT.json and the recall-QPS curves to OUT.png
(the picture ann-benchmarks draws: up and to the right is better).

needs: apt-get install -y python3-numpy python3-hnswlib python3-faiss python3-matplotlib
usage: /usr/bin/python3 bench/anchors/ann_compare.py /tmp/s100k --vrecall "dotnet src/VectorRecall.Cli/bin/Release/net10.0/vrecall.dll"
       [--k 10 --efs 10,20,40,80,160,320,640 --M 16 --efc 200 --threads 2 --runs 3 --out ann_s100k]
       [--storages float32,fp16,sq8,sq4,sq8:0,sq8:2:fp16] [--libs hnswlib,faiss]   (storage:N sets --refine N, storage:N:fp16 also --refine-storage fp16)
The prefix is what ../shared/anchors/ann_anchor.py make/truth wrote (PREFIX_base.npy, _query.npy, _truth.npy).
"""
import argparse, json, shlex, subprocess, tempfile, time
import numpy as np

p = argparse.ArgumentParser()
p.add_argument("prefix")
p.add_argument("--vrecall", required=True, help="how to run the CLI, e.g. 'dotnet path/to/vrecall.dll'")
p.add_argument("--k", type=int, default=10)
p.add_argument("--efs", default="10,20,40,80,160,320,640")
p.add_argument("--M", type=int, default=16)
p.add_argument("--efc", type=int, default=200)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--runs", type=int, default=3)
p.add_argument("--out", default="ann_compare")
p.add_argument("--storages", default="float32,fp16,sq8,sq4", help="our storage kinds to run")
p.add_argument("--libs", default="hnswlib,faiss", help="anchors to run: hnswlib, faiss")
a = p.parse_args()

xb = np.load(a.prefix + "_base.npy"); xq = np.load(a.prefix + "_query.npy"); gt = np.load(a.prefix + "_truth.npy")
efs = [int(e) for e in a.efs.split(",")]
truth = [set(row[:a.k]) for row in gt]
series = {}

def recall(found):
    return float(np.mean([len(set(f[:a.k]) & t) / a.k for f, t in zip(found, truth)]))

def timed(search):
    """Best of a.runs passes over the queries, one at a time: (recall, qps)."""
    best, found = float("inf"), None
    for _ in range(a.runs):
        t = time.perf_counter(); found = [search(q) for q in xq]; best = min(best, time.perf_counter() - t)
    return recall(found), len(xq) / best

def rss():
    """Resident bytes of this process (what hnswlib's and faiss's indexes add is measured as a difference)."""
    return next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmRSS:"))

for spec in [s for s in a.storages.split(",") if s]:
    # sq8:0 is SQ8 with refine 0 (no exact vectors kept); sq8:2:fp16 keeps them in half precision
    storage, refine, refine_storage = (spec.split(":") + ["", ""])[:3]
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        cmd = shlex.split(a.vrecall) + ["bench", "ann", "--base", a.prefix + "_base.npy", "--queries", a.prefix + "_query.npy",
               "--truth", a.prefix + "_truth.npy", "--top-k", str(a.k), "--ef-search", a.efs, "--m", str(a.M), "--efc", str(a.efc),
               "--storage", storage, "--runs", str(a.runs), "--threads", str(a.threads), "--json", f.name] + (["--refine", refine] if refine else []) + (["--refine-storage", refine_storage] if refine_storage else [])
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        r = json.load(open(f.name))
    series[f"vrecall HNSW {storage}" + (f" refine={refine}" if refine else "") + (f" {refine_storage}" if refine_storage else "")] = {"build_s": r["build_s"], "bytes_per_vector": r["bytes_per_vector"], "rss_bytes_per_vector": r["rss_bytes_per_vector"],
                                         "rows": [{"ef": x["ef"], "recall": x["recall"], "qps": x["qps"]} for x in r["single_thread"]]}
    print(f"vrecall {spec} done", flush=True)

libs = a.libs.split(",")
if "hnswlib" in libs:
    import hnswlib
    before = rss()
    h = hnswlib.Index(space="ip", dim=xb.shape[1]); h.init_index(max_elements=len(xb), M=a.M, ef_construction=a.efc, random_seed=1)
    h.set_num_threads(a.threads); t = time.perf_counter(); h.add_items(xb, np.arange(len(xb))); build = time.perf_counter() - t
    held = (rss() - before) / len(xb)
    h.set_num_threads(1)
    rows = []
    for ef in efs:
        h.set_ef(max(ef, a.k)); rec, qps = timed(lambda q: h.knn_query(q, k=a.k)[0][0]); rows.append({"ef": ef, "recall": rec, "qps": qps})
    series["hnswlib"] = {"build_s": build, "rss_bytes_per_vector": held, "rows": rows}
    print("hnswlib done", flush=True)

if "faiss" in libs:
    import faiss
    for name, make in [("faiss HNSWFlat", lambda: faiss.IndexHNSWFlat(xb.shape[1], a.M, faiss.METRIC_INNER_PRODUCT)),
                       ("faiss HNSWSQ8", lambda: faiss.IndexHNSWSQ(xb.shape[1], faiss.ScalarQuantizer.QT_8bit, a.M, faiss.METRIC_INNER_PRODUCT))]:
        faiss.omp_set_num_threads(a.threads)
        f = make(); f.hnsw.efConstruction = a.efc
        before = rss(); t = time.perf_counter(); f.train(xb); f.add(xb); build = time.perf_counter() - t; held = (rss() - before) / len(xb)
        faiss.omp_set_num_threads(1)
        rows = []
        for ef in efs:
            f.hnsw.efSearch = max(ef, a.k); rec, qps = timed(lambda q: f.search(q[None, :], a.k)[1][0]); rows.append({"ef": ef, "recall": rec, "qps": qps})
        series[name] = {"build_s": build, "rss_bytes_per_vector": held, "rows": rows}
        print(f"{name} done", flush=True)

json.dump({"data": a.prefix, "k": a.k, "M": a.M, "efConstruction": a.efc, "series": series}, open(a.out + ".json", "w"), indent=2)
for name, s in series.items():
    print(f"{name}: build {s['build_s']:.1f} s, resident {s.get('rss_bytes_per_vector', float('nan')):.0f} B/vector; " + "; ".join(f"ef {r['ef']} recall {r['recall']:.4f} qps {r['qps']:.0f}" for r in s["rows"]))

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(7, 5))
for name, s in series.items():
    ax.plot([r["recall"] for r in s["rows"]], [r["qps"] for r in s["rows"]], marker="o", label=name)
ax.set_yscale("log"); ax.set_xlabel(f"recall@{a.k}"); ax.set_ylabel("queries per second, one thread (log)")
ax.set_title(f"{a.prefix.split('/')[-1]}: {len(xb):,} x {xb.shape[1]}, M {a.M}, efConstruction {a.efc}")
ax.grid(True, which="both", alpha=0.3); ax.legend()
fig.tight_layout(); fig.savefig(a.out + ".png", dpi=120)
print(f"wrote {a.out}.json and {a.out}.png")
