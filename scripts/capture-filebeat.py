#!/usr/bin/env python3
"""Record what a real Beats client sends over Lumberjack v2, and decode such captures.

This is the independent oracle for the golden files in proto/: it shares no code with
the Rust codec, so a bug there cannot hide in the expected JSON.

  serve   listen on 127.0.0.1, write every byte each connection sends to
          <out>-conn<N>.bin, answer each window with `2A <last seq>`, and exit once
          --events events have been acked (exit 0) or --timeout seconds pass (exit 1).
  decode  print the logical frames of a capture as JSON: W and J frames in wire order,
          with each C frame inflated and its inner frames listed in its place.

Lumberjack v2 as the Beats send it (big-endian integers throughout):
  2W <size:u32>                     window: events in the batch that follows
  2C <len:u32> <zlib stream>        compressed: the stream holds more frames
  2J <seq:u32> <len:u32> <json>     one event
  2A <seq:u32>                      ack, server to client
Stdlib only.
"""

import argparse
import json
import os
import select
import socket
import struct
import sys
import time
import zlib

# A capture of a few events is a few KiB; anything near this is not a Beats client.
MAX_FRAME_BYTES = 64 * 1024 * 1024


class ProtocolError(Exception):
    pass


def parse_frame(buf, off):
    """Parse one frame of `buf` at `off`.

    Returns (frame, next_off), or None when `buf` ends before the frame does. A
    frame is a dict: {"type": "window", ...}, {"type": "json", ...} or
    {"type": "compressed", "len": n, "frames": [inner frames]}.
    """
    if len(buf) - off < 2:
        return None
    version, kind = buf[off], buf[off + 1]
    if version != ord("2"):
        raise ProtocolError(f"frame at byte {off} has version byte {version:#04x}, want '2'")
    p = off + 2
    if kind == ord("W"):
        if len(buf) - p < 4:
            return None
        (size,) = struct.unpack_from(">I", buf, p)
        return {"type": "window", "version": 2, "size": size}, p + 4
    if kind == ord("J"):
        if len(buf) - p < 8:
            return None
        seq, length = struct.unpack_from(">II", buf, p)
        if length > MAX_FRAME_BYTES:
            raise ProtocolError(f"json frame at byte {off} declares {length} bytes, limit {MAX_FRAME_BYTES}")
        p += 8
        if len(buf) - p < length:
            return None
        payload = bytes(buf[p : p + length])
        try:
            event = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as err:
            raise ProtocolError(f"json frame seq {seq} at byte {off} is not valid UTF-8 JSON: {err}")
        return {"type": "json", "seq": seq, "event": event, "raw_len": length}, p + length
    if kind == ord("C"):
        if len(buf) - p < 4:
            return None
        (length,) = struct.unpack_from(">I", buf, p)
        if length > MAX_FRAME_BYTES:
            raise ProtocolError(f"compressed frame at byte {off} declares {length} bytes, limit {MAX_FRAME_BYTES}")
        p += 4
        if len(buf) - p < length:
            return None
        d = zlib.decompressobj()
        inner = d.decompress(bytes(buf[p : p + length]), MAX_FRAME_BYTES)
        if d.unconsumed_tail or not d.eof or d.unused_data:
            raise ProtocolError(f"compressed frame at byte {off} is not exactly one complete zlib stream")
        frames = []
        ioff = 0
        while ioff < len(inner):
            parsed = parse_frame(inner, ioff)
            if parsed is None:
                raise ProtocolError(f"compressed frame at byte {off} ends inside an inner frame at inner byte {ioff}")
            frame, ioff = parsed
            frames.append(frame)
        return {"type": "compressed", "len": length, "inflated_len": len(inner), "frames": frames}, p + length
    if kind == ord("A"):
        if len(buf) - p < 4:
            return None
        (seq,) = struct.unpack_from(">I", buf, p)
        return {"type": "ack", "version": 2, "seq": seq}, p + 4
    raise ProtocolError(f"frame at byte {off} has unknown type byte {kind:#04x}")


def parse_all(data):
    """All wire frames of a complete capture, with their offsets and sizes."""
    frames = []
    off = 0
    while off < len(data):
        parsed = parse_frame(data, off)
        if parsed is None:
            raise ProtocolError(f"capture ends inside the frame that starts at byte {off} ({len(data)} bytes total)")
        frame, end = parsed
        frame["offset"] = off
        frame["wire_len"] = end - off
        frames.append(frame)
        off = end
    return frames


def logical(frame):
    """A frame as the codec is expected to return it: no offsets, C frames flattened."""
    if frame["type"] == "compressed":
        out = []
        for inner in frame["frames"]:
            out.extend(logical(inner))
        return out
    if frame["type"] == "window":
        return [{"type": "window", "version": 2, "size": frame["size"]}]
    if frame["type"] == "json":
        return [{"type": "json", "seq": frame["seq"], "event": frame["event"]}]
    if frame["type"] == "ack":
        return [{"type": "ack", "version": 2, "seq": frame["seq"]}]
    raise AssertionError(f"unhandled frame type {frame['type']}")


def wire_summary(frame):
    s = {"type": frame["type"], "offset": frame["offset"], "wire_len": frame["wire_len"]}
    if frame["type"] == "window":
        s["size"] = frame["size"]
    elif frame["type"] == "json":
        s["seq"] = frame["seq"]
        s["len"] = frame["raw_len"]
    elif frame["type"] == "compressed":
        s["len"] = frame["len"]
        s["inflated_len"] = frame["inflated_len"]
        s["inner"] = [
            {"type": f["type"], **({"seq": f["seq"]} if f["type"] == "json" else {"size": f.get("size")})}
            for f in frame["frames"]
        ]
    return s


def decode_capture(data):
    wire = parse_all(data)
    frames = []
    for f in wire:
        frames.extend(logical(f))
    return {
        "frames": frames,
        # Not part of what the decoder returns: how the frames sat on the wire.
        "wire": [wire_summary(f) for f in wire],
    }


def cmd_decode(args):
    with open(args.capture, "rb") as fh:
        data = fh.read()
    doc = decode_capture(data)
    text = json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return 0


class Conn:
    """One client connection: its capture file and its progress through the windows."""

    def __init__(self, sock, path):
        self.sock = sock
        self.path = path
        self.out = open(path, "wb")
        self.buf = bytearray()
        self.window = None  # events expected in the current batch
        self.received = 0  # events of the current batch seen so far
        self.last_seq = 0

    def feed(self, chunk):
        """Record and parse `chunk`; return how many events were acked by it."""
        self.out.write(chunk)
        self.out.flush()
        self.buf.extend(chunk)
        acked = 0
        off = 0
        while True:
            parsed = parse_frame(self.buf, off)
            if parsed is None:
                break
            frame, off = parsed
            acked += self.on_frame(frame)
        del self.buf[:off]
        return acked

    def on_frame(self, frame):
        if frame["type"] in ("window", "compressed"):
            what = f"window {frame['size']}" if frame["type"] == "window" else f"compressed {frame['len']} bytes"
            log(f"received {what} ({self.path})")
        if frame["type"] == "window":
            if self.window is not None and self.received < self.window:
                raise ProtocolError(
                    f"window {frame['size']} arrived with {self.received} of {self.window} events unacked"
                )
            self.window, self.received, self.last_seq = frame["size"], 0, 0
            if self.window == 0:
                self.ack(0)
                self.window = None
            return 0
        if frame["type"] == "compressed":
            return sum(self.on_frame(inner) for inner in frame["frames"])
        if frame["type"] == "json":
            if self.window is None:
                raise ProtocolError(f"event seq {frame['seq']} arrived before any window")
            self.received += 1
            self.last_seq = frame["seq"]
            if self.received == self.window:
                n = self.window
                self.ack(self.last_seq)
                self.window = None
                return n
            return 0
        raise ProtocolError(f"unexpected {frame['type']} frame from a client")

    def ack(self, seq):
        log(f"sending ack {seq} ({self.path})")
        self.sock.sendall(b"2A" + struct.pack(">I", seq))

    def close(self):
        self.out.close()
        self.sock.close()


def cmd_serve(args):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    listener.listen(8)
    port = listener.getsockname()[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(f"{port}\n")
        os.rename(tmp, args.port_file)
    log(f"listening on 127.0.0.1:{port}, want {args.events} events, timeout {args.timeout}s")

    deadline = time.monotonic() + args.timeout
    conns = {}
    n_conns = 0
    acked = 0
    done_at = None
    try:
        while True:
            now = time.monotonic()
            if done_at is not None and now >= done_at:
                log(f"acked {acked} events over {n_conns} connection(s); done")
                return 0
            if now >= deadline:
                log(f"timed out after {args.timeout}s with {acked} of {args.events} events acked")
                return 1
            wait = (done_at if done_at is not None else deadline) - now
            readable, _, _ = select.select([listener, *conns], [], [], max(wait, 0.0))
            for s in readable:
                if s is listener:
                    sock, peer = listener.accept()
                    path = f"{args.out}-conn{n_conns}.bin"
                    n_conns += 1
                    conns[sock] = Conn(sock, path)
                    log(f"connection from {peer[0]}:{peer[1]} recorded to {path}")
                    continue
                conn = conns[s]
                try:
                    chunk = s.recv(65536)
                except ConnectionError as err:
                    chunk = b""
                    log(f"connection error: {err}")
                if not chunk:
                    log(f"connection closed by peer ({conn.path})")
                    conn.close()
                    del conns[s]
                    continue
                n = conn.feed(chunk)
                if n:
                    acked += n
                    log(f"acked a batch of {n} events ({acked} total)")
                if acked >= args.events and done_at is None:
                    # Linger so anything the client still had in flight is recorded too.
                    done_at = time.monotonic() + args.linger
    finally:
        for conn in conns.values():
            conn.close()
        listener.close()


START = time.monotonic()


def log(msg):
    print(f"capture-filebeat: {time.monotonic() - START:7.3f}s {msg}", file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="record a client's bytes and ack its windows")
    s.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    s.add_argument("--port-file", help="write the bound port here once listening")
    s.add_argument("--out", required=True, help="capture path prefix: <out>-conn<N>.bin")
    s.add_argument("--events", type=int, required=True, help="exit 0 after this many events are acked")
    s.add_argument("--timeout", type=float, default=60.0, help="exit 1 after this many seconds")
    s.add_argument("--linger", type=float, default=1.0, help="seconds to keep recording after the last ack")
    d = sub.add_parser("decode", help="print a capture's frames as JSON")
    d.add_argument("capture")
    d.add_argument("-o", "--output")
    args = ap.parse_args()
    try:
        return cmd_serve(args) if args.cmd == "serve" else cmd_decode(args)
    except ProtocolError as err:
        log(f"protocol error: {err}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
