import pytest
import redis

from harness import Server


@pytest.fixture(scope="module")
def server():
    """One server per test module (RESP2 and RESP3 tests share it; each test starts empty)."""
    with Server() as s:
        yield s


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def protocol(request):
    return request.param


@pytest.fixture
def r(server, protocol):
    """A redis-py client with the library's defaults, on an empty database."""
    client = redis.Redis(port=server.port, protocol=protocol)
    client.flushdb()
    yield client
    client.close()
