#!/usr/bin/env python3
"""Redis Cluster pub/sub cost: classic PUBLISH against sharded SPUBLISH.

What it answers (docs/scaling.md, "Per Redis shard"): how much Redis CPU a
message costs on a cluster, in total and on the busiest node, when the
gateway uses classic pub/sub (one subscriber connection, on one node; every
PUBLISH carried to every node by the cluster bus) and when it uses sharded
pub/sub (redis.sharded: one subscriber per master; an SPUBLISH stays on the
shard of its channel's slot, a master and its replica).

It starts a cluster of 3 masters and 3 replicas on free loopback ports
(redis-server and redis-cli --cluster create, as the tests' ClusterSet),
then for each mode: subscribers that read and discard (classic: one, on
the first master, SUBSCRIBEd to every channel; sharded: one per master,
SSUBSCRIBEd to that master's channels), and one publisher connection per
master sending MESSAGES pipelined commands, in batches, to CHANNELS
channels whose slots that master owns. Redis CPU is read from
/proc/<pid>/stat of every node before and after. Every process it starts
is stopped by PID, also on failure.

Usage: bench/run_cluster_pubsub.py [--messages N] [--channels N] [--rounds N]
Results: JSON lines in bench/results/cluster-pubsub-<time>.jsonl and a
table on stdout.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Reader:
    """A minimal RESP reader over a blocking socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b"-"):
            return rest.decode()
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise ValueError("bad reply %r" % line)


def command(port, *args):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(encode(*args))
        return Reader(s).reply()


def crc16(data):
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def key_slot(key):
    k = key.encode()
    start = k.find(b"{")
    if start >= 0:
        end = k.find(b"}", start + 1)
        if end > start + 1:
            k = k[start + 1:end]
    return crc16(k) % 16384


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except (OSError, ConnectionError):
            pass
        time.sleep(0.05)
    raise RuntimeError("timed out waiting for " + what)


class Cluster:
    def __init__(self, work):
        self.work = work
        self.procs = []
        self.ports = [free_port() for _ in range(6)]

    def start(self):
        for port in self.ports:
            d = os.path.join(self.work, str(port))
            os.makedirs(d)
            log = open(os.path.join(d, "log"), "w")
            self.procs.append(subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                 "--cluster-enabled", "yes", "--cluster-port", str(free_port()),
                 "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000",
                 "--save", "", "--appendonly", "no", "--dir", d],
                stdout=log, stderr=subprocess.STDOUT))
        for port in self.ports:
            wait_until(lambda: command(port, "PING") == "PONG", 10, "redis on %d" % port)
        subprocess.run(["redis-cli", "--cluster", "create"] +
                       ["127.0.0.1:%d" % p for p in self.ports] +
                       ["--cluster-replicas", "1", "--cluster-yes"],
                       check=True, stdout=subprocess.DEVNULL, timeout=60)
        wait_until(lambda: all(b"cluster_state:ok" in command(p, "CLUSTER", "INFO")
                               for p in self.ports), 30, "cluster_state:ok")

    def masters(self):
        """[(port, [(start, end)...], replica ports)] from CLUSTER SLOTS."""
        out = {}
        for entry in command(self.ports[0], "CLUSTER", "SLOTS"):
            start, end, master = entry[0], entry[1], entry[2]
            port = master[1]
            rec = out.setdefault(port, ([], [r[1] for r in entry[3:]]))
            rec[0].append((start, end))
        return sorted((p, r, reps) for p, (r, reps) in out.items())

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
        for p in self.procs:
            p.wait()


def subscriber(port, verb, channels, stop, counts, index):
    """SUBSCRIBE/SSUBSCRIBE, then read and discard, counting messages."""
    s = socket.create_connection(("127.0.0.1", port))
    for ch in channels:  # one per command: SSUBSCRIBE keeps to one slot
        s.sendall(encode(verb, ch))
    acks = 0
    data = b""
    while acks < len(channels):
        data += s.recv(65536)
        acks = data.count(b"subscribe\r\n")
    counts[index] = -1  # subscribed
    marker = b"message\r\n"
    s.settimeout(0.2)
    got = 0
    tail = b""
    while not stop.is_set():
        try:
            chunk = s.recv(1 << 20)
        except socket.timeout:
            continue
        if not chunk:
            break
        both = tail + chunk
        got += both.count(marker)
        tail = both[-(len(marker) - 1):]
        counts[index] = got
    s.close()


def publisher(port, verb, channels, messages, payload, batch, result, index):
    s = socket.create_connection(("127.0.0.1", port))
    cmds = [encode(verb, ch, payload) for ch in channels]
    block = b"".join(cmds[i % len(cmds)] for i in range(batch))
    sent = 0
    while sent < messages:
        s.sendall(block)
        sent += batch
        need = batch
        data = b""
        while need > 0:
            chunk = s.recv(1 << 20)
            if not chunk:
                raise ConnectionError("publisher closed")
            data += chunk
            n = data.count(b"\r\n")
            need = batch - n
        if b"-" in data:
            raise RuntimeError("publish refused: %r" % data[:200])
    s.close()
    result[index] = sent


def run_mode(cluster, mode, messages, channels_per_master, payload, batch):
    masters = cluster.masters()
    channels = {}
    for port, ranges, _ in masters:
        names = []
        i = 0
        while len(names) < channels_per_master:
            name = "broadcast:c%d" % i
            slot = key_slot(name)
            if any(a <= slot <= b for a, b in ranges):
                names.append(name)
            i += 1
        channels[port] = names
    stop = threading.Event()
    subs = []
    if mode == "classic":
        plan = [(masters[0][0], "SUBSCRIBE", sum(channels.values(), []))]
        verb = "PUBLISH"
    else:
        plan = [(port, "SSUBSCRIBE", channels[port]) for port, _, _ in masters]
        verb = "SPUBLISH"
    counts = [0] * len(plan)
    for i, (port, sub_verb, names) in enumerate(plan):
        t = threading.Thread(target=subscriber, args=(port, sub_verb, names, stop, counts, i))
        t.start()
        subs.append(t)
    wait_until(lambda: all(c == -1 for c in counts), 10, "subscriptions")
    pids = {port: proc.pid for port, proc in zip(cluster.ports, cluster.procs)}
    before = {port: cpu_ticks(pid) for port, pid in pids.items()}
    result = [0] * len(masters)
    t0 = time.monotonic()
    pubs = []
    for i, (port, _, _) in enumerate(masters):
        t = threading.Thread(target=publisher,
                             args=(port, verb, channels[port], messages, payload, batch, result, i))
        t.start()
        pubs.append(t)
    for t in pubs:
        t.join()
    total = sum(result)
    wait_until(lambda: sum(max(c, 0) for c in counts) >= total, 60, "every message read")
    t1 = time.monotonic()
    after = {port: cpu_ticks(pid) for port, pid in pids.items()}
    stop.set()
    for t in subs:
        t.join()
    hz = os.sysconf("SC_CLK_TCK")
    per_node = {port: 1e6 * (after[port] - before[port]) / hz / total for port in pids}
    return {
        "mode": mode, "masters": len(masters), "replicas": sum(len(r) for _, _, r in masters),
        "messages": total, "received": sum(max(c, 0) for c in counts),
        "subscriber_connections": len(plan), "channels": channels_per_master * len(masters),
        "payload_bytes": len(payload), "seconds": t1 - t0, "messages_per_second": total / (t1 - t0),
        "redis_cpu_us_per_message_total": sum(per_node.values()),
        "redis_cpu_us_per_message_busiest_node": max(per_node.values()),
        "redis_cpu_us_per_message_by_port": {str(k): v for k, v in per_node.items()},
        "load_average_end": open("/proc/loadavg").read().split()[:3],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=200000, help="per master, per mode")
    ap.add_argument("--channels", type=int, default=10, help="per master")
    ap.add_argument("--payload", type=int, default=64)
    ap.add_argument("--batch", type=int, default=256, help="commands pipelined per write")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    for tool in ("redis-server", "redis-cli"):
        if shutil.which(tool) is None:
            sys.exit("run_cluster_pubsub: %s not found (scripts/install-deps.sh)" % tool)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    path = os.path.join(HERE, "results", time.strftime("cluster-pubsub-%Y%m%d-%H%M%S.jsonl"))
    payload = b"x" * args.payload
    work = tempfile.mkdtemp(prefix="wsrelay-cluster-bench-")
    cluster = Cluster(work)
    runs = []
    try:
        cluster.start()
        with open(path, "w") as out:
            for r in range(1, args.rounds + 1):
                for mode in ("classic", "sharded"):
                    run = run_mode(cluster, mode, args.messages, args.channels, payload,
                                   args.batch)
                    run["round"] = r
                    out.write(json.dumps(run) + "\n")
                    out.flush()
                    runs.append(run)
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("| round | mode | messages/s | Redis CPU us/message, all 6 nodes | busiest node |")
    print("| --: | --- | --: | --: | --: |")
    for run in runs:
        print("| %d | %s | %.0f | %.2f | %.2f |" % (
            run["round"], run["mode"], run["messages_per_second"],
            run["redis_cpu_us_per_message_total"], run["redis_cpu_us_per_message_busiest_node"]))
    print("results: " + path)
    lost = [r for r in runs if r["received"] < r["messages"]]
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
