#!/usr/bin/env python3
"""Makes TCP sockets in (nearly) every state, and UDP ones, on one port P.

Run it as root inside a network namespace of its own (its nft rules apply to the
whole namespace): `ip netns exec NS python3 tests/tools/states.py [-6]`.  It
prints P, then "ready", and holds everything for 10 minutes or until it is
killed (TIME_WAIT sockets and the orphan in FIN_WAIT2 last 60 seconds).  Used by tests/e2e/states.bats, which compares portscope ls
with ss on these sockets, and by tests/data/record-states.sh.

What it makes, all through loopback, the port P chosen by the kernel:
  a listener on P (backlog 8)
  accepted     a connection the listener accept()ed, ESTABLISHED
  queued       two connections never accept()ed: ESTABLISHED with no socket file
  queued       one never accept()ed whose client closed: CLOSE_WAIT
  orphaned     one the server closed first: FIN_WAIT2, a minisocket (no socket file)
  orphaned     one the server closed after its client: TIME_WAIT
  handshake    a SYN_RECV request: the client's last ACK is dropped (nft)
  client       SYN_SENT: a client whose SYN is dropped (nft)
  client       FIN_WAIT1: a client whose FIN is dropped (nft)
  accepted     LAST_ACK: a server socket whose FIN is dropped (nft)
  client       TIME_WAIT: a client that closed first
  bound        a UDP socket bound to P; connected: a UDP socket on P connected to a client
and, on a port of its own, a TCP socket that is only bound (no state ss or /proc lists).
"""
import errno
import socket
import subprocess
import sys
import time

V6 = "-6" in sys.argv[1:]
FAM = socket.AF_INET6 if V6 else socket.AF_INET
HOST = "::1" if V6 else "127.0.0.1"
FAMILY = "ip6" if V6 else "ip"


def nft(*rule):
    subprocess.run(["nft", *rule], check=True)


def client(bind_port=0):
    s = socket.socket(FAM, socket.SOCK_STREAM)
    s.bind((HOST, bind_port))
    return s


def settle(check, what):
    """Waits (at most 5 s) until check() is true."""
    for _ in range(100):
        if check():
            return
        time.sleep(0.05)
    sys.exit("states.py: %s did not happen in 5 s" % what)


def tcp_state(local_port, remote_port):
    """The state ss gives the TCP socket LOCAL_PORT -> REMOTE_PORT, or ''."""
    out = subprocess.run(["ss", "-Htan", "sport = :%d and dport = :%d" % (local_port, remote_port)],
                         capture_output=True, text=True).stdout.split()
    return out[0] if out else ""


nft("add", "table", "inet", "states")
nft("add", "chain", "inet", "states", "in", "{ type filter hook input priority 0; }")

lst = socket.socket(FAM, socket.SOCK_STREAM)
lst.bind((HOST, 0))
lst.listen(8)
P = lst.getsockname()[1]
keep = []

# accepted: the listener takes it.
c = socket.create_connection((HOST, P))
a, _ = lst.accept()
keep += [c, a]

# orphaned FIN_WAIT2: the server closes first; its client keeps its end (CLOSE_WAIT).
c = socket.create_connection((HOST, P))
a, _ = lst.accept()
a.close()
keep.append(c)
cport = c.getsockname()[1]
settle(lambda: tcp_state(cport, P) == "CLOSE-WAIT", "the client's CLOSE_WAIT")

# orphaned TIME_WAIT: the server closes first, then its client.
c = socket.create_connection((HOST, P))
a, _ = lst.accept()
a.close()
cport = c.getsockname()[1]
settle(lambda: tcp_state(cport, P) == "CLOSE-WAIT", "the client's CLOSE_WAIT")
c.close()
settle(lambda: tcp_state(P, cport) == "TIME-WAIT", "the server's TIME_WAIT")

# client TIME_WAIT: the client closes first, then the server.
c = socket.create_connection((HOST, P))
a, _ = lst.accept()
cport = c.getsockname()[1]
c.close()
settle(lambda: tcp_state(P, cport) == "CLOSE-WAIT", "the server's CLOSE_WAIT")
a.close()
settle(lambda: tcp_state(cport, P) == "TIME-WAIT", "the client's TIME_WAIT")

# LAST_ACK: the client shuts its side, then the server's FIN to it is dropped.
c = socket.create_connection((HOST, P))
a, _ = lst.accept()
cport = c.getsockname()[1]
c.shutdown(socket.SHUT_WR)
settle(lambda: tcp_state(P, cport) == "CLOSE-WAIT", "the server's CLOSE_WAIT")
nft("add", "rule", "inet", "states", "in", "tcp", "sport", str(P), "tcp", "dport", str(cport), "drop")
a.shutdown(socket.SHUT_WR)
keep += [c, a]
settle(lambda: tcp_state(P, cport) == "LAST-ACK", "the server's LAST_ACK")

# FIN_WAIT1: a client whose FIN is dropped.
c = socket.create_connection((HOST, P))
a, _ = lst.accept()
cport = c.getsockname()[1]
nft("add", "rule", "inet", "states", "in", "tcp", "sport", str(cport), "tcp", "dport", str(P), "drop")
c.shutdown(socket.SHUT_WR)
keep += [c, a]
settle(lambda: tcp_state(cport, P) == "FIN-WAIT-1", "the client's FIN_WAIT1")

# queued: two connections nobody accepts, and one whose client closes while it waits.
for _ in range(2):
    keep.append(socket.create_connection((HOST, P)))
c = socket.create_connection((HOST, P))
cport = c.getsockname()[1]
c.close()
settle(lambda: tcp_state(P, cport) == "CLOSE-WAIT", "the queued CLOSE_WAIT")

# handshake: the client's last ACK of the handshake is dropped; the server keeps a request.
c = client()
cport = c.getsockname()[1]
nft("add", "rule", "inet", "states", "in", "tcp", "sport", str(cport), "tcp", "dport", str(P),
    "tcp", "flags", "&", "(syn|ack)", "==", "ack", "drop")
c.connect((HOST, P))
keep.append(c)
settle(lambda: tcp_state(P, cport) == "SYN-RECV", "the server's SYN_RECV")

# SYN_SENT: a client whose SYN is dropped.
c = client()
cport = c.getsockname()[1]
nft("add", "rule", "inet", "states", "in", "tcp", "sport", str(cport), "tcp", "dport", str(P),
    "tcp", "flags", "syn", "drop")
c.setblocking(False)
err = c.connect_ex((HOST, P))
assert err == errno.EINPROGRESS, err
keep.append(c)
settle(lambda: tcp_state(cport, P) == "SYN-SENT", "the client's SYN_SENT")

# UDP: bound to P, and one on P connected to a client connected to it.
u = socket.socket(FAM, socket.SOCK_DGRAM)
u.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
u.bind((HOST, P))
uc = socket.socket(FAM, socket.SOCK_DGRAM)
uc.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
uc.bind((HOST, 0))
ub = socket.socket(FAM, socket.SOCK_DGRAM)
ub.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ub.bind((HOST, P))
ub.connect(uc.getsockname()[:2])
uc.connect((HOST, P))
keep += [u, uc, ub]

# Bound, never listening nor connecting: sock_diag lists it only when asked for bit 13.
b = socket.socket(FAM, socket.SOCK_STREAM)
b.bind((HOST, 0))
keep.append(b)

print(P, flush=True)
print("ready", flush=True)
time.sleep(600)
