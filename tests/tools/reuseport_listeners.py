#!/usr/bin/env python3
"""Listeners on one port, made by Python (not by portscope), and where the kernel sends connections.

usage: reuseport_listeners.py ADDR CONNECT-TO N SPEC...

Each SPEC is one listener, made in the order given, bound to ADDR and one port (the
kernel chooses it for the first): comma-separated options among
  reuseport=0|1  (default 1)    dev=NAME  (SO_BINDTODEVICE)
  v6only=0|1     (IPV6_V6ONLY)  uid=N     (create the socket as that user)
  addr=IP        (bind this address instead of ADDR)
Prints "port P", then "listener I pid PID fd FD" for each, then makes N connections
to CONNECT-TO:P, each from a new client socket, counts which listener accepted each
one, prints "accepted I COUNT" for each listener and "done", and holds the listeners
until it is killed.  A listener the kernel refuses is reported as "refused I ERRNO".
"""
import errno
import os
import select
import socket
import sys
import time


def parse(spec):
    opts = {"reuseport": "1"}
    for item in filter(None, spec.split(",")):
        key, _, value = item.partition("=")
        opts[key] = value
    return opts


def make_listener(addr, port, opts):
    """A listening socket with OPTS on ADDR:PORT; uid= makes it as that user."""
    addr = opts.get("addr", addr)
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    uid = int(opts["uid"]) if "uid" in opts else None
    if uid is not None:
        os.seteuid(uid)
    try:
        s = socket.socket(family, socket.SOCK_STREAM)
    finally:
        if uid is not None:
            os.seteuid(0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, int(opts["reuseport"]))
    if "v6only" in opts:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(opts["v6only"]))
    if "dev" in opts:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, opts["dev"].encode())
    s.bind((addr, port))
    s.listen(128)
    s.setblocking(False)
    return s


def main():
    addr, target, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    port = 0
    listeners = []
    for i, spec in enumerate(sys.argv[4:], 1):
        try:
            s = make_listener(addr, port, parse(spec))
        except OSError as e:
            print("refused", i, errno.errorcode.get(e.errno, e.errno), flush=True)
            continue
        port = s.getsockname()[1]
        if i == 1:
            print("port", port, flush=True)
        listeners.append((i, s))
        print("listener", i, "pid", os.getpid(), "fd", s.fileno(), flush=True)
    counts = {i: 0 for i, _ in listeners}
    deadline = time.monotonic() + 20
    for _ in range(n):
        c = socket.create_connection((target, port), timeout=5)
        # The connection waits in one listener's queue: find which.
        got = False
        while not got and time.monotonic() < deadline:
            ready, _, _ = select.select([s for _, s in listeners], [], [], 1)
            for i, s in listeners:
                if s in ready:
                    try:
                        conn, _ = s.accept()
                    except BlockingIOError:
                        continue
                    conn.close()
                    counts[i] += 1
                    got = True
        c.close()
        if not got:
            print("no listener accepted a connection", file=sys.stderr)
            sys.exit(1)
    for i, _ in listeners:
        print("accepted", i, counts[i], flush=True)
    print("done", flush=True)
    while True:
        time.sleep(60)


if __name__ == "__main__":
    main()
