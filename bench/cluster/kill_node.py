#!/usr/bin/env python3
"""What HTTP clients of a recall cluster see when a node dies: four clients post /v1/recall (top-50) to one node
without pause; after 5 s the node with PID VICTIM is killed (SIGKILL: no goodbye). Prints requests, failures (status
and the window after the kill in which they happened), latency of the answered ones, and answers slower than 0.5 s.

usage: /usr/bin/python3 bench/cluster/kill_node.py SECONDS VICTIM_PID [PORT]   (docs/cluster.md has the node commands)
"""
import http.client, json, time, threading, os, signal, sys
dur=float(sys.argv[1]); victim=int(sys.argv[2]); port=int(sys.argv[3]) if len(sys.argv)>3 else 8081
res=[]; lock=threading.Lock(); t0=time.time()
def client(c):
    conn=http.client.HTTPConnection('127.0.0.1',port,timeout=10); i=c
    while time.time()-t0<dur:
        s=time.time()
        try:
            conn.request('POST','/v1/recall',json.dumps({"user_id":i%10000,"top_k":50}),{'content-type':'application/json'})
            r=conn.getresponse(); r.read(); st=r.status
        except Exception as e:
            st=-1; conn=http.client.HTTPConnection('127.0.0.1',port,timeout=10)
        with lock: res.append((s-t0,time.time()-s,st))
        i+=4
ts=[threading.Thread(target=client,args=(c,)) for c in range(4)]
[t.start() for t in ts]
time.sleep(5); os.kill(victim, signal.SIGKILL); kill=time.time()-t0
[t.join() for t in ts]
bad=[r for r in res if r[2]!=200]
print(f"requests {len(res)} failed {len(bad)} statuses {sorted(set(r[2] for r in bad))}")
if bad: print(f"failure window: {min(r[0] for r in bad)-kill:.1f} s to {max(r[0]+r[1] for r in bad)-kill:.1f} s after the kill")
ok=sorted(r[1]*1000 for r in res if r[2]==200); print(f"ok latency p50 {ok[len(ok)//2]:.1f} ms p99 {ok[int(len(ok)*.99)]:.1f} max {ok[-1]:.0f}")
slow=[r for r in res if r[2]==200 and r[1]>0.5]
if slow: print(f"answers over 0.5 s: {len(slow)}, from {min(r[0] for r in slow)-kill:.1f} to {max(r[0] for r in slow)-kill:.1f} s after the kill")
