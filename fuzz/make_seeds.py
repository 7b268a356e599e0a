#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/<target>/: a few small valid inputs
per target, in each target's input format (see the comment at the top of
fuzz/<target>.cpp). The files are committed; run this again after changing a
format or adding a seed:  python3 fuzz/make_seeds.py
Other files in those folders (regression inputs from fixed findings) are
left alone."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def write(target, seeds):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())


# ---- fuzz_target_parser: target \n cookie \n offered \n accepted \n prefix \n user \n groups
write("fuzz_target_parser", {
    "full": "/ws/demo?subscribe-broadcast&publish-broadcast&echo\n"
            "sessionid=abc123; theme=dark\nchat, superchat\nsuperchat,other\np\nalice\nstaff,admins",
    "all-flags": "/ws/foo.bar-baz_1?subscribe-broadcast&subscribe-user&subscribe-group"
                 "&subscribe-session&publish-broadcast&publish-user&publish-group"
                 "&publish-session&echo\nsessionid=\"quoted\"\n\n\n\nbob\ng1,,g1",
    "case-and-values": "/ws/Feed?SUBSCRIBE-Broadcast=1&unknown&echo=yes&&\n a = 1 ;sessionid = s \n",
    "escaped": "/ws/foo%2Ebar?subscribe-session\nsessionid=x\n",
    "refused-colon": "/ws/a%3Ab?subscribe-broadcast",
    "refused-dots": "/ws/..?echo",
    "refused-escape": "/ws/abc%4",
    "refused-long": "/ws/" + "f" * 129 + "?echo",
    "other-path": "/metrics",
    "utf8": b"/ws/x\n\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 plain ascii text\n\xed\x9f\xbf\xf4\x8f\xbf\xbf",
    "utf8-invalid": b"0123456789abcdef\xed\xa0\x80\xc0\xaf\xf4\x90\x80\x80\xe0\x9f\xbf",
})

# ---- fuzz_command: string form \n prefix template \n user \n other user \n argv lines
write("fuzz_command", {
    "set": "SET key1 15\ncmd:{user}:\nalice\nbob",
    "mset": "MSET a 1 b 2\nc:{user}:{session}:\na:b\na\nMSET\na\n1\nb\n2",
    "escape": "SET a 1\r\nFLUSHALL\ncmd:{user}:\nx\ny\nGET\n*",
    "refused": "CONFIG SET dir /tmp\ns:{session}:\n\ns1\nEVAL\nreturn 1\n0",
    "rename": "RENAME a b\ncmd:{user}:\nu%41\nu\nLMOVE\na\nb\nLEFT\nRIGHT",
})

# ---- fuzz_resp: selector byte, then a reply stream that is also length-prefixed args
resp_seeds = {
    "simple": b"+OK\r\n:42\r\n:-7\r\n$-1\r\n*-1\r\n-ERR unknown command\r\n",
    "message": b"*3\r\n$7\r\nmessage\r\n$13\r\nbroadcast:foo\r\n$5\r\nhello\r\n",
    "acks": b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"
            b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n",
    "pong": b"+PONG\r\n*2\r\n$4\r\npong\r\n$0\r\n\r\n",
    "nested": b"*3\r\n*2\r\n:1\r\n$1\r\nx\r\n$-1\r\n*1\r\n*0\r\n",
    "binary": b"$6\r\n\x00\x01\x02\r\n!\r\n",
    "command": b"\x07message\x03ch1\x07payload",
    "command-pong": b"\x04PONG\x00",
}
write("fuzz_resp", {name: bytes([0x80]) + data for name, data in resp_seeds.items()})

# ---- fuzz_config: TOML text, also a Redis URL, also KEY=VALUE
with open(os.path.join(HERE, "..", "config", "wsrelay.toml"), "rb") as f:
    sample = f.read()
write("fuzz_config", {
    "sample": sample,
    "small": '[server]\nlisten = "0.0.0.0:8080"\nsubprotocols = ["chat", "v2"]\n'
             '[redis]\nurl = "redis://:secret@127.0.0.1:6379/1"\nprefix = "app"\n'
             '[websocket]\nheartbeat = "--heartbeat--"\nmax_message_bytes = 1024\n'
             'max_queue_bytes = 4096\n',
    "ipv6": '[server]\nlisten = "[::1]:0"\n[log]\nlevel = "debug"\n',
    "bad-type": '[server]\nthreads = "four"\n',
    "redis-url": "redis://user:password@redis.example:6380/2",
    "redis-ipv6": "redis://[::1]:6379",
    "unix-url": "unix:///run/redis/redis.sock?db=3&user=u&password=p%40ss",
    "set": "websocket.heartbeat=--heartbeat--",
    "set-list": "server.subprotocols=chat, v2",
    "env": "WSRELAY_MAX_MESSAGE_BYTES=2048",
})


# ---- fuzz_ws_frame: split byte, max_message_bytes/8 byte, mode byte, stream
def frame(opcode, payload, fin=True, mask=b"\x37\xfa\x21\x3d"):
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n <= 0xFFFF:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def record(b0, payload, mask=b"\x01\x02\x03\x04"):
    # The odd mode's records: the target masks and encodes them itself.
    n = len(payload)
    length = bytes([n]) if n < 126 else bytes([126]) + struct.pack(">H", n)
    return bytes([b0]) + length + mask + payload


raw = lambda stream: bytes([0x80, 32, 0]) + stream  # max 256 bytes
records = lambda stream: bytes([0x80, 32, 1]) + stream
write("fuzz_ws_frame", {
    "text": raw(frame(0x1, "héllo".encode())),
    "binary-126": raw(frame(0x2, bytes(range(200)))),
    "fragmented": raw(frame(0x1, b"frag", fin=False) + frame(0x9, b"ping")
                      + frame(0x0, "ment \xe2\x82".encode("latin-1"), fin=False)
                      + frame(0x0, b"\xac")),
    "close": raw(frame(0xA, b"") + frame(0x8, struct.pack(">H", 1000) + b"bye")),
    "too-big": raw(frame(0x2, bytes(300))),
    "unmasked": raw(bytes([0x81, 0x02]) + b"hi"),
    "records": records(record(0x81, b"hello") + record(0x89, b"") + record(0x02, b"part")
                       + record(0x80, b"end") + record(0x88, struct.pack(">H", 1001))),
    "records-long": records(record(0x82, bytes(range(130)))),
    # A reload to a 32-byte limit (mode bit 1, (mode >> 2) * 8) between the
    # two fragments of a 250-byte message, under the old 256-byte limit.
    "reload-mid-message": bytes([0x95, 32, (4 << 2) | 3])
                          + record(0x02, bytes(200)) + record(0x80, bytes(50)),
})
