#!/usr/bin/env python3
"""Live item writes over HTTP: CLIENTS threads PUT /v1/items to one node for SECONDS each (ITEMS items per request,
random DIM-wide vectors, fresh ids), and print acknowledged items per second and request latency p50 / p99.

usage: VRECALL_ADMIN_TOKEN=... /usr/bin/python3 bench/cluster/put_items.py DIM [PORT] [SECONDS] [CLIENTS] [ITEMS]
(docs/cluster.md has the node commands)
"""
import http.client, json, os, random, sys, threading, time
dim = int(sys.argv[1]); port = int(sys.argv[2]) if len(sys.argv) > 2 else 8081
seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 10; clients = int(sys.argv[4]) if len(sys.argv) > 4 else 1
per = int(sys.argv[5]) if len(sys.argv) > 5 else 1
token = os.environ["VRECALL_ADMIN_TOKEN"]
lat, done, failed, lock = [], [0], [0], threading.Lock()
def client(c):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30); rng = random.Random(c); n = 0; t0 = time.time()
    while time.time() - t0 < seconds:
        items = [{"id": f"http-{c}-{n + i}", "vector": [rng.uniform(-1, 1) for _ in range(dim)]} for i in range(per)]
        n += per; body = json.dumps({"items": items}); s = time.time()
        conn.request("PUT", "/v1/items", body, {"content-type": "application/json", "authorization": f"Bearer {token}"})
        r = conn.getresponse(); r.read()
        with lock:
            if r.status == 200: lat.append(time.time() - s); done[0] += per
            else: failed[0] += 1
threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
start = time.time(); [t.start() for t in threads]; [t.join() for t in threads]; wall = time.time() - start
lat.sort()
print(f"{clients} client(s), {per} item(s) per request: {done[0] / wall:,.0f} items/s acknowledged, "
      f"p50 {lat[len(lat) // 2] * 1000:.2f} ms, p99 {lat[int(len(lat) * 0.99)] * 1000:.2f} ms, {failed[0]} refused")
