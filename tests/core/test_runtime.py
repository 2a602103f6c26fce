"""Process-wide runtime settings: Arrow's memory pool (jemalloc, else the system allocator)."""

import pyarrow as pa
import pytest

from songsim.core import runtime


@pytest.fixture
def restore_pool():
    """The process's pool is put back afterwards; the test starts from mimalloc (pyarrow's default on these
    wheels, the one replaced), so a configure that changed nothing shows."""
    before = pa.default_memory_pool()
    try:
        pa.set_memory_pool(pa.mimalloc_memory_pool())
    except NotImplementedError:
        pytest.skip("this pyarrow has no mimalloc pool to start from")
    yield
    pa.set_memory_pool(before)


def test_arrow_buffers_come_from_jemalloc_when_the_wheel_has_it(restore_pool):
    try:
        pa.jemalloc_memory_pool()
        want = "jemalloc"
    except NotImplementedError:
        want = "system"
    assert runtime.configure_arrow_memory() == want
    assert pa.default_memory_pool().backend_name == want
    buf = pa.allocate_buffer(1 << 16)  # new Arrow buffers come from that pool
    assert pa.default_memory_pool().bytes_allocated() >= 1 << 16
    del buf


def test_without_jemalloc_the_system_allocator(restore_pool, monkeypatch):
    def no_jemalloc():
        raise NotImplementedError("built without jemalloc")

    monkeypatch.setattr(runtime.pa, "jemalloc_memory_pool", no_jemalloc)
    assert runtime.configure_arrow_memory() == "system"
    assert pa.default_memory_pool().backend_name == "system"
