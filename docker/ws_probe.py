#!/usr/bin/env python3
"""One WebSocket connection driven through a list of steps, for docker/test.sh.

    ws_probe.py PORT PATH STEP...

Connects to ws://127.0.0.1:PORT/PATH with a browser's Origin for that port
and runs the steps in order, each under a deadline (10 s):
    send:TEXT      sends TEXT as one masked text frame
    expect:TEXT    reads frames (answering pings) until a text frame equal to TEXT
    run:COMMAND    runs COMMAND with sh -c; it must exit 0
    close:CODE     reads until the server's close frame, whose code must be CODE
Prints each step as it passes; exits 1 with the reason at the first failure.
Python's standard library only: the images and the host need nothing else.
"""
import base64
import os
import socket
import struct
import subprocess
import sys
import time

DEADLINE = 10.0


def fail(why):
    print(f"ws_probe: FAIL: {why}", flush=True)
    sys.exit(1)


class Connection:
    def __init__(self, port, path):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
        key = base64.b64encode(os.urandom(16)).decode()
        host = f"127.0.0.1:{port}"
        request = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                   f"Sec-WebSocket-Version: 13\r\nOrigin: http://{host}\r\n\r\n")
        self.sock.sendall(request.encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status = head.split(b"\r\n", 1)[0].decode(errors="replace")
        if " 101 " not in status + " ":
            fail(f"handshake answered {status!r}")
        print(f"ws_probe: open ({status})", flush=True)

    def _recv(self):
        self.sock.settimeout(max(0.1, self.deadline - time.monotonic())
                             if hasattr(self, "deadline") else DEADLINE)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            fail("no data before the deadline")
        if not data:
            fail("connection closed without a close frame")
        return data

    def _need(self, n):
        while len(self.buffer) < n:
            self.buffer += self._recv()
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def send(self, opcode, payload):
        mask = os.urandom(4)
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def frame(self):
        b0, b1 = self._need(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._need(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._need(8))[0]
        return b0 & 0x0F, self._need(n)

    def next_text_or_close(self):
        while True:
            opcode, payload = self.frame()
            if opcode == 0x9:  # ping: answered, as a browser does
                self.send(0xA, payload)
            elif opcode in (0x1, 0x8):
                return opcode, payload


def main():
    if len(sys.argv) < 3:
        fail(__doc__)
    port, path, steps = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    conn = Connection(port, path)
    for step in steps:
        kind, _, arg = step.partition(":")
        conn.deadline = time.monotonic() + DEADLINE
        if kind == "send":
            conn.send(0x1, arg.encode())
        elif kind == "expect":
            while True:
                opcode, payload = conn.next_text_or_close()
                if opcode == 0x8:
                    fail(f"closed while waiting for {arg!r}")
                if payload.decode(errors="replace") == arg:
                    break
        elif kind == "run":
            result = subprocess.run(["sh", "-c", arg], timeout=DEADLINE * 6)
            if result.returncode != 0:
                fail(f"{arg!r} exited {result.returncode}")
        elif kind == "close":
            while True:
                opcode, payload = conn.next_text_or_close()
                if opcode == 0x8:
                    break
            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            if code != int(arg):
                fail(f"close code {code}, expected {arg}")
        else:
            fail(f"unknown step {step!r}")
        print(f"ws_probe: ok {step}", flush=True)


if __name__ == "__main__":
    main()
