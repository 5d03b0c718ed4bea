"""Scale-out through twemproxy: three `bitgask serve` processes behind `nutcracker` (all on
loopback, free ports), 10,000 keys written through the proxy, every server holding a share,
every key read back through the proxy. The proxy's configuration follows
examples/twemproxy/nutcracker.yml with the ports filled in."""

import re
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import redis

from harness import NUTCRACKER, ROOT, Server, free_port

N = 10_000


def proxy_client(port, **kw):
    """redis-py for the proxy: RESP2 and no CLIENT SETINFO on connect (twemproxy speaks RESP2
    only and drops connections that send commands it does not know, such as HELLO)."""
    return redis.Redis(port=port, protocol=2, driver_info=None, **kw)


def proxy_config(example, listen_port, server_ports):
    text = example.read_text()
    text = text.replace("listen: 127.0.0.1:22121", f"listen: 127.0.0.1:{listen_port}")
    servers = "".join(f"    - 127.0.0.1:{p}:1 bitgask-{i}\n" for i, p in enumerate(server_ports))
    text = re.sub(r"  servers:\n(    - .*\n)+", "  servers:\n" + servers, text)
    assert all(f":{p}:1" in text for p in server_ports)
    return text


@pytest.fixture
def cluster():
    tmp = Path(tempfile.mkdtemp(prefix="bitgask-cluster-"))
    servers = [Server(tmp=tmp, dir=tmp / f"db{i}").start() for i in range(3)]
    proxy = None
    try:
        port = free_port()
        conf = tmp / "nutcracker.yml"
        conf.write_text(proxy_config(ROOT / "examples/twemproxy/nutcracker.yml", port, [s.port for s in servers]))
        subprocess.run([NUTCRACKER, "-t", "-c", str(conf)], check=True, capture_output=True, timeout=30)
        proxy = subprocess.Popen([NUTCRACKER, "-c", str(conf), "-a", "127.0.0.1", "-s", str(free_port()),
                                  "-o", str(tmp / "nutcracker.log"), "-p", str(tmp / "nutcracker.pid")])
        deadline = time.monotonic() + 15
        while True:
            try:
                if proxy_client(port, socket_timeout=2).set("probe", "1"):
                    break
            except redis.ConnectionError:
                if time.monotonic() > deadline or proxy.poll() is not None:
                    raise
                time.sleep(0.05)
        proxy_client(port).delete("probe")
        yield port, servers
    finally:
        if proxy is not None:
            proxy.send_signal(signal.SIGTERM)
            proxy.wait(15)
        statuses = [s.stop() for s in servers]
        subprocess.run(["rm", "-rf", str(tmp)])
        assert statuses == [0, 0, 0], statuses


def test_keys_are_sharded_and_read_back(cluster):
    port, servers = cluster
    proxy = proxy_client(port, socket_timeout=30)
    keys = [f"key:{i}" for i in range(N)]
    for start in range(0, N, 500):
        with proxy.pipeline(transaction=False) as p:
            for k in keys[start:start + 500]:
                p.set(k, f"value-of-{k}")
            assert p.execute() == [True] * len(keys[start:start + 500])

    sizes = [redis.Redis(port=s.port).dbsize() for s in servers]
    print(f"keys per server: {sizes}")
    assert sum(sizes) == N, sizes  # every key on exactly one server
    assert all(n > N // 10 for n in sizes), f"uneven shares: {sizes}"

    got = []
    for start in range(0, N, 1000):
        got += proxy.mget(keys[start:start + 1000])
    assert got == [f"value-of-{k}".encode() for k in keys]
    for k in keys[::97]:
        assert proxy.get(k) == f"value-of-{k}".encode()

    # Other single-key commands pass through the proxy too.
    assert proxy.incr("counter") == 1 and proxy.expire("counter", 100) and 0 < proxy.ttl("counter") <= 100
    assert proxy.delete(*keys[:100]) == 100
    assert sum(redis.Redis(port=s.port).dbsize() for s in servers) == N - 100 + 1
