"""`yolov4 serve` under a bounded load on 127.0.0.1: throughput, p50/p99 latency and memory,
with and without micro-batching (issue 17).

Each configuration runs as its own server subprocess (``python -m yolov4 serve``) on a free
port of 127.0.0.1; this process is the client. All servers start together and wait idle while
another one is measured. After ``/health`` answers and a warm-up (bursts of 1..max-batch
concurrent requests, not counted), each concurrency level (``--clients 1,8,32``) sends
``--requests`` ``POST /detect`` per configuration with the real photos of
``/work/shared/darknet/images`` (read once, sent as raw JPEG bodies) from that many threads,
one keep-alive ``http.client`` connection each; a shared counter hands out the requests. The
configurations take turns within a level (``--rounds`` turns, alternating order), so that the
load of a shared machine falls on all of them alike.

Configurations: ``batch8`` (``--max-batch 8``, micro-batching on) and ``batch1``
(``--max-batch 1``, off: the reference), both with the default queue of 64, so 32 clients can
never fill it; and ``queue4`` (``--max-batch 8 --max-queue 4``, 32 clients only), whose queue
overflows on purpose to show that the refusals are 503s, answered quickly, and nothing else.
Per level: requests answered 200 and 503, throughput (200s per second of wall time),
client-side p50/p99 latency of the 200s, the mean batch size (from the server's
``/metrics?format=json``, the difference over the level), the server's peak RSS so far
(``VmHWM``) and its RSS after the level; the server's own timings (decode, queue, inference
per batch) from the answers. The last table gives batch8 / batch1 per level. Every answer of
a photo is compared with that photo's first answer, and batch8's with batch1's.

Fails (exit 1) on anything but 200 and the expected 503s: another status, a connection error,
a timeout (``--timeout``), a 200 whose body is not a detection result, a 503 where the queue
cannot fill (``max_queue >= clients``) or without ``Retry-After``, a server that dies or does
not stop within 20 s of SIGTERM.

    python benchmarks/serve.py [--clients 1,8,32] [--requests 192] [--rounds 3] [--size 416]
        [--threads N] [--configs batch8,batch1,queue4] [--model CFG --weights W]
        [--server-arg=--optimize] [--server-env GOMP_SPINCOUNT=10000]
"""
from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from yolov4.serve.metrics import percentile  # the server's own quantile (numpy's linear)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "darknet"
CONFIGS = {  # name: (server options, clients it runs at; None = all of --clients)
    "batch8": (["--max-batch", "8"], None),
    "batch1": (["--max-batch", "1"], None),
    "queue4": (["--max-batch", "8", "--max-queue", "4"], [32]),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid: int) -> Dict[str, float]:
    """VmRSS and VmHWM of ``pid`` in MB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024.0
    return out


class Server:
    """``python -m yolov4 serve`` in a subprocess; stderr goes to a log file."""

    def __init__(self, options: List[str], args: argparse.Namespace, log: Path) -> None:
        self.port = free_port()
        cmd = [sys.executable, "-m", "yolov4", "serve", "--model", args.model,
               "--port", str(self.port), "--log-level", "warning", *options]
        if args.weights:
            cmd += ["--weights", args.weights]
        if args.size:
            cmd += ["--size", str(args.size)]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        cmd += args.server_arg
        self.cmd = cmd
        self.log_path = log
        self.log = log.open("w")
        env = dict(os.environ, **dict(kv.split("=", 1) for kv in args.server_env))
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def get(self, path: str, timeout: float = 10.0) -> Tuple[int, bytes]:
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def wait_ready(self, timeout: float) -> Dict[str, Any]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                status, body = self.get("/health", 2.0)
                if status == 200:
                    return json.loads(body)
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server not ready after {timeout:.0f} s:\n{self.tail()}")

    def metrics(self) -> Dict[str, Any]:
        status, body = self.get("/metrics?format=json")
        if status != 200:
            raise RuntimeError(f"/metrics?format=json answered {status}")
        return json.loads(body)

    def memory(self) -> Dict[str, float]:
        return proc_status(self.proc.pid)

    def tail(self, n: int = 3000) -> str:
        self.log.flush()
        return self.log_path.read_text()[-n:]

    def stop(self, timeout: float = 20.0) -> float:
        """SIGTERM (uvicorn's graceful shutdown); seconds it took. Raises if it hangs."""
        t = time.perf_counter()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError(f"server did not stop {timeout:.0f} s after SIGTERM")
        self.log.close()
        return time.perf_counter() - t


class Level:
    """One concurrency level: ``clients`` threads share ``requests`` POST /detect."""

    def __init__(self, port: int, images: List[Tuple[str, bytes]], clients: int, requests: int,
                 max_batch: int, timeout: float,
                 first: Optional[Dict[str, List[Tuple[int, List[float]]]]] = None) -> None:
        self.port, self.images, self.clients, self.requests = port, images, clients, requests
        self.max_batch, self.timeout = max_batch, timeout
        self.lock = threading.Lock()
        self.next = 0
        self.ok: List[float] = []          # seconds, client side, per 200
        self.busy: List[float] = []        # seconds per 503
        self.server_ms: List[Dict[str, float]] = []
        self.errors: List[str] = []
        # image -> its first answer (shared by the levels of a configuration)
        self.first: Dict[str, List[Tuple[int, List[float]]]] = {} if first is None else first
        self.mismatch: List[str] = []   # a photo answered differently from its first answer

    def take(self) -> Optional[int]:
        with self.lock:
            if self.next >= self.requests:
                return None
            self.next += 1
            return self.next - 1

    def client(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            while True:
                i = self.take()
                if i is None:
                    return
                name, body = self.images[i % len(self.images)]
                t = time.perf_counter()
                try:
                    conn.request("POST", "/detect", body=body,
                                 headers={"Content-Type": "image/jpeg"})
                    r = conn.getresponse()
                    data = r.read()
                except Exception as err:  # noqa: BLE001 - every failure is reported
                    with self.lock:
                        self.errors.append(f"request {i} ({name}): {type(err).__name__}: {err}")
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                      timeout=self.timeout)
                    continue
                took = time.perf_counter() - t
                self.record(i, name, r.status, data, took, r.getheader("Retry-After"))
        finally:
            conn.close()

    def record(self, i: int, name: str, status: int, data: bytes, took: float,
               retry_after: Optional[str]) -> None:
        if status == 503:
            with self.lock:
                self.busy.append(took)
                if retry_after is None:
                    self.errors.append(f"request {i}: 503 without Retry-After")
            return
        if status != 200:
            with self.lock:
                self.errors.append(f"request {i} ({name}): HTTP {status}: {data[:200]!r}")
            return
        try:
            out = json.loads(data)
            dets = sorted((d["class_id"], d["xyxy"]) for d in out["detections"])
            bs = int(out["batch_size"])
            timings = out["timings_ms"]
            if not 1 <= bs <= self.max_batch:
                raise ValueError(f"batch_size {bs} outside 1..{self.max_batch}")
        except Exception as err:  # noqa: BLE001
            with self.lock:
                self.errors.append(f"request {i} ({name}): bad 200 body ({err}): {data[:200]!r}")
            return
        with self.lock:
            self.ok.append(took)
            self.server_ms.append(timings)
            ref = self.first.setdefault(name, dets)
            if not same(ref, dets):
                self.mismatch.append(f"{name}: {len(ref)} vs {len(dets)} detections")

    def run(self) -> float:
        threads = [threading.Thread(target=self.client, daemon=True) for _ in range(self.clients)]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        return time.perf_counter() - t


def batch_totals(m: Dict[str, Any]) -> Tuple[int, float]:
    b = m["batch"]
    return b["batches"], b["mean_size"] * b["batches"]


class Config:
    """One server configuration: its subprocess and what its levels measured."""

    def __init__(self, name: str, args: argparse.Namespace, logdir: Path) -> None:
        self.name = name
        self.options, only = CONFIGS[name]
        self.levels = [c for c in args.levels if only is None or c in only] or list(only)
        self.max_batch = int(self.options[self.options.index("--max-batch") + 1])
        self.max_queue = (int(self.options[self.options.index("--max-queue") + 1])
                          if "--max-queue" in self.options else 64)
        self.args = args
        self.errors: List[str] = []
        self.mismatch: List[str] = []
        self.first: Dict[str, List[Tuple[int, List[float]]]] = {}
        self.parts: Dict[int, List[Dict[str, Any]]] = {c: [] for c in self.levels}
        self.health: Dict[str, Any] = {}
        self.startup = self.stop_s = float("nan")
        self.rss_idle: Dict[str, float] = {}
        self.final: Dict[str, Any] = {}
        self.mem: Dict[int, Dict[str, float]] = {}
        self.server = Server(self.options, args, logdir / f"{name}.log")

    @property
    def alive(self) -> bool:
        return self.server.proc.poll() is None and not any("server" in e for e in self.errors)

    def wait(self) -> None:
        """Until /health answers; startup = seconds since the subprocess was started."""
        try:
            self.health = self.server.wait_ready(self.args.start_timeout)
        except RuntimeError as err:
            self.errors.append(f"server: {err}")
            return
        self.startup = time.perf_counter() - self.server.started

    def warm(self, images: List[Tuple[str, bytes]]) -> None:
        if not self.alive:
            return
        # warm-up, not counted: bursts of 1..max_batch concurrent requests, so that the
        # forward pass has met (about) every batch size once (oneDNN builds its kernels per
        # input shape on first use), then one more round of full batches
        top = min(self.max_batch, self.max_queue)
        for k in [*range(1, top + 1), top]:
            self.level(images, k, k, record=False)
        self.rss_idle = self.server.memory()

    def level(self, images: List[Tuple[str, bytes]], clients: int, requests: int,
              record: bool = True) -> None:
        """Send ``requests`` from ``clients`` threads; keep the numbers when ``record``."""
        if not self.alive:
            return
        before = batch_totals(self.server.metrics())
        lv = Level(self.server.port, images, clients, requests, self.max_batch,
                   self.args.timeout, self.first)
        wall = lv.run()
        self.mismatch += lv.mismatch
        where = f"{clients} clients" if record else "warm-up"
        self.errors += [f"{where}: {e}" for e in lv.errors]
        if self.server.proc.poll() is not None:
            self.errors.append(f"server died (exit {self.server.proc.returncode}) at {where}:"
                               f"\n{self.server.tail()}")
            return
        after = batch_totals(self.server.metrics())
        if lv.busy and self.max_queue >= clients:
            self.errors.append(f"{where}: {len(lv.busy)} 503s although the queue "
                               f"({self.max_queue}) holds every client's request")
        if len(lv.ok) + len(lv.busy) + len(lv.errors) != requests:
            self.errors.append(f"{where}: {len(lv.ok)} + {len(lv.busy)} + {len(lv.errors)} "
                               f"answers for {requests} requests")
        if record:
            self.mem[clients] = self.server.memory()
            self.parts[clients].append({"wall": wall, "ok": lv.ok, "busy": lv.busy,
                                        "errors": len(lv.errors), "server_ms": lv.server_ms,
                                        "batches": after[0] - before[0],
                                        "images": after[1] - before[1],
                                        "load": os.getloadavg()[0]})
            print(f"  {self.name} {clients:>3} clients: {len(lv.ok)} ok, {len(lv.busy)} 503, "
                  f"{len(lv.errors)} errors, {len(lv.ok) / wall:.1f} req/s, "
                  f"load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)

    def rows(self) -> List[Dict[str, Any]]:
        out = []
        for clients in self.levels:
            parts = self.parts[clients]
            if not parts:
                continue
            ok = [x for p in parts for x in p["ok"]]
            busy = [x for p in parts for x in p["busy"]]
            wall = sum(p["wall"] for p in parts)
            sms = [x for p in parts for x in p["server_ms"]]
            nb, ni = sum(p["batches"] for p in parts), sum(p["images"] for p in parts)
            out.append({"config": self.name, "clients": clients,
                        "requests": len(ok) + len(busy) + sum(p["errors"] for p in parts),
                        "ok": len(ok), "busy": len(busy), "wall": wall,
                        "rps": len(ok) / wall,
                        "p50": 1000 * percentile(ok, 0.5), "p99": 1000 * percentile(ok, 0.99),
                        "busy_p50": 1000 * percentile(busy, 0.5),
                        "busy_max": 1000 * max(busy) if busy else float("nan"),
                        "batch": ni / nb if nb else float("nan"),
                        "hwm": self.mem[clients]["VmHWM"], "rss": self.mem[clients]["VmRSS"],
                        "server_ms": {k: sum(s[k] for s in sms) / max(1, len(sms))
                                      for k in ("decode", "queue", "inference", "total")},
                        "load": max(p["load"] for p in parts)})
        return out

    def close(self) -> None:
        if self.server.proc.poll() is None:
            try:
                self.final = self.server.metrics()
            except (OSError, RuntimeError, ValueError) as err:
                self.errors.append(f"server: /metrics at the end: {err}")
        try:
            self.stop_s = self.server.stop()
        except RuntimeError as err:
            self.errors.append(f"server: {err}")


def box_diff(a: List[Tuple[int, List[float]]], b: List[Tuple[int, List[float]]]) -> float:
    """Largest coordinate difference (px) between two sorted detection lists; inf when the
    classes differ."""
    if [c for c, _ in a] != [c for c, _ in b]:
        return float("inf")
    return max((abs(x - y) for (_, p), (_, q) in zip(a, b) for x, y in zip(p, q)), default=0.0)


def same(a: List[Tuple[int, List[float]]], b: List[Tuple[int, List[float]]]) -> bool:
    return box_diff(a, b) <= 1.0


def compare(a: Dict[str, List], b: Dict[str, List]) -> str:
    """Do two configurations find the same objects in each photo (same classes, boxes within
    1 px)?"""
    common = sorted(set(a) & set(b))
    worst = max((box_diff(a[n], b[n]) for n in common), default=0.0)
    return (f"same detections on all {len(common)} photos (boxes within {worst:.2g} px)"
            if worst <= 1.0 else f"DIFFERENT detections (largest box difference {worst:.3g} "
                                 f"px; inf = other classes)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(SHARED / "cfg" / "yolov4-tiny.cfg"))
    ap.add_argument("--weights", default=str(SHARED / "weights" / "yolov4-tiny.weights"))
    ap.add_argument("--images", default=str(SHARED / "images"), help="directory of .jpg photos")
    ap.add_argument("--clients", default="1,8,32", help="concurrency levels (comma list)")
    ap.add_argument("--requests", type=int, default=192,
                    help="requests per level and configuration (split over --rounds)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="the configurations take turns this many times per level, so that "
                         "the load of a shared machine falls on all of them alike")
    ap.add_argument("--size", type=int, help="network input size passed to the server "
                                              "(default: the cfg's)")
    ap.add_argument("--threads", type=int, help="torch threads of the server (default: torch's)")
    ap.add_argument("--configs", default="batch8,batch1,queue4",
                    help=f"comma list of {', '.join(CONFIGS)}")
    ap.add_argument("--server-arg", action="append", default=[],
                    help="extra option for every server (repeat; e.g. --server-arg=--optimize)")
    ap.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                    help="environment variable for every server (repeat; e.g. "
                         "GOMP_SPINCOUNT=10000)")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    ap.add_argument("--start-timeout", type=float, default=180.0)
    ap.add_argument("--logs", default=None, help="directory for the servers' logs "
                                                  "(default: a temporary one)")
    args = ap.parse_args()
    args.levels = [int(c) for c in args.clients.split(",")]
    names = args.configs.split(",")
    bad = [n for n in names if n not in CONFIGS]
    if bad:
        ap.error(f"--configs: unknown {bad}; expected some of {list(CONFIGS)}")
    if any("=" not in kv for kv in args.server_env):
        ap.error("--server-env takes KEY=VALUE")
    if args.rounds < 1 or args.requests < args.rounds:
        ap.error("--rounds must be >= 1 and <= --requests")
    images = [(p.name, p.read_bytes()) for p in sorted(Path(args.images).glob("*.jpg"))]
    if not images:
        ap.error(f"no .jpg in {args.images}")
    import tempfile
    logdir = Path(args.logs or tempfile.mkdtemp(prefix="serve_bench_"))
    logdir.mkdir(parents=True, exist_ok=True)

    load0 = os.getloadavg()
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.perf_counter()
    configs: List[Config] = []
    try:
        # every server is up (and idle) at once; within a level the configurations take
        # turns, in alternating order, so that drift of the machine's load is shared
        for name in names:
            configs.append(Config(name, args, logdir))
        for cfg in configs:
            print(f"{cfg.name}: {' '.join(cfg.server.cmd[2:])}", file=sys.stderr, flush=True)
            cfg.wait()
        for cfg in configs:
            cfg.warm(images)
        split = [args.requests // args.rounds + (r < args.requests % args.rounds)
                 for r in range(args.rounds)]
        for clients in args.levels:
            turn = [c for c in configs if clients in c.levels]
            for r, n in enumerate(split):
                for cfg in (turn if r % 2 == 0 else turn[::-1]):
                    cfg.level(images, clients, n)
    finally:
        for cfg in configs:
            cfg.close()
    total = time.perf_counter() - t0
    load1 = os.getloadavg()

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    h = next((c.health for c in configs if c.health), {})
    print(f"yolov4 serve on 127.0.0.1, {Path(args.model).name} input {h.get('input_size')} "
          f"engine {h.get('engine')}, {len(images)} photos as JPEG bodies; {args.requests} "
          f"requests per level and configuration in {args.rounds} turns; server torch threads "
          f"{args.threads or 'default'}{' ' + ' '.join(args.server_arg) if args.server_arg else ''}"
          f"{'; server environment ' + ' '.join(args.server_env) if args.server_env else ''}")
    print(f"{started:%Y-%m-%d %H:%M} UTC, {cpu}, {os.cpu_count()} cores, load average "
          f"{load0[0]:.1f} / {load0[1]:.1f} / {load0[2]:.1f} at start, {load1[0]:.1f} at end; "
          f"{total:.0f} s in all")
    print()
    rows = {c.name: c.rows() for c in configs}
    print("| config | clients | requests | ok | 503 | req/s | p50 ms | p99 ms | mean batch | "
          "peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for c in configs:
        for row in rows[c.name]:
            print(f"| {c.name} | {row['clients']} | {row['requests']} | {row['ok']} | "
                  f"{row['busy']} | {row['rps']:.1f} | {row['p50']:.0f} | {row['p99']:.0f} | "
                  f"{row['batch']:.2f} | {row['hwm']:.0f} |")
    print()
    print("Server-side means of the 200s (ms, from timings_ms; inference is per batch), RSS "
          "after the level, 503 latency, highest load average seen:")
    print()
    print("| config | clients | decode | queue | inference | total | RSS MB | "
          "503 p50 / max ms | load |")
    print("|---|---|---|---|---|---|---|---|---|")
    for c in configs:
        for row in rows[c.name]:
            s = row["server_ms"]
            busy = (f"{row['busy_p50']:.1f} / {row['busy_max']:.1f}" if row["busy"] else "")
            print(f"| {c.name} | {row['clients']} | {s['decode']:.1f} | {s['queue']:.1f} | "
                  f"{s['inference']:.1f} | {s['total']:.1f} | {row['rss']:.0f} | {busy} | "
                  f"{row['load']:.1f} |")
    print()
    by = {name: {row["clients"]: row for row in r} for name, r in rows.items()}
    if "batch8" in by and "batch1" in by:
        print("| clients | batch8 req/s | batch1 req/s | throughput batch8 / batch1 | "
              "p50 batch8 / batch1 | p99 batch8 / batch1 |")
        print("|---|---|---|---|---|---|")
        for n in args.levels:
            a, b = by["batch8"].get(n), by["batch1"].get(n)
            if a and b:
                print(f"| {n} | {a['rps']:.1f} | {b['rps']:.1f} | **{a['rps'] / b['rps']:.2f}x** "
                      f"| {a['p50'] / b['p50']:.2f}x | {a['p99'] / b['p99']:.2f}x |")
        print()
        c8, c1 = (next(c for c in configs if c.name == n) for n in ("batch8", "batch1"))
        print(f"Detections, batch8 vs batch1: {compare(c8.first, c1.first)}")
    for c in configs:
        print(f"{c.name}: startup {c.startup:.1f} s, RSS after warm-up "
              f"{c.rss_idle.get('VmRSS', float('nan')):.0f} MB, stop on SIGTERM "
              f"{c.stop_s:.1f} s; server counted {json.dumps(c.final.get('requests', {}))}; "
              f"answers differing from the photo's first answer: {len(c.mismatch)}"
              + (f" (e.g. {c.mismatch[0]})" if c.mismatch else ""))
    errors = [f"{c.name}: {e}" for c in configs for e in c.errors]
    print(f"server logs: {logdir}")
    if errors:
        print(f"\nFAILED: {len(errors)} errors other than the expected 503s:")
        for e in errors[:40]:
            print(f"  {e}")
        return 1
    print("\nNo errors other than the expected 503s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
