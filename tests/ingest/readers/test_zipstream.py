"""Streaming zip reader: same members as zipfile, fallback for data descriptors, corrupt members."""

import io
import zipfile

import pytest

from songsim.ingest.readers.zipstream import ZipMemberError, iter_zip


class _Unseekable(io.RawIOBase):
    """A write-only stream without seek: zipfile then writes data descriptors after each member."""

    def __init__(self):
        self.buf = bytearray()

    def writable(self):
        return True

    def write(self, b):
        self.buf += b
        return len(b)


def _members():
    return {f"d/{i}.json": (b'{"x": %d}' % i) * (i + 1) for i in range(5)} | {"d/": b"", "stored.txt": b"plain"}


def _write(zf):
    for name, data in _members().items():
        if name.endswith("/"):
            zf.writestr(zipfile.ZipInfo(name), b"")
        else:
            zf.writestr(name, data, compress_type=zipfile.ZIP_STORED if name == "stored.txt" else zipfile.ZIP_DEFLATED)


def test_streams_like_zipfile(tmp_path):
    p = tmp_path / "a.zip"
    with zipfile.ZipFile(p, "w") as zf:
        _write(zf)
    assert dict(iter_zip(p)) == _members()


def test_data_descriptor_archives_fall_back(tmp_path):
    raw = _Unseekable()
    with zipfile.ZipFile(raw, "w") as zf:
        _write(zf)
    p = tmp_path / "streamed.zip"
    p.write_bytes(bytes(raw.buf))
    assert dict(iter_zip(p)) == _members()


def test_corrupt_member_is_reported_not_raised(tmp_path):
    p = tmp_path / "a.zip"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("one.json", b'{"a": 1}' * 50)
        zf.writestr("two.json", b'{"b": 2}' * 50)
    data = bytearray(p.read_bytes())
    data[40] ^= 0xFF  # inside the first member's deflated bytes
    p.write_bytes(bytes(data))
    got = dict(iter_zip(p))
    assert isinstance(got["one.json"], ZipMemberError)
    assert got["two.json"] == b'{"b": 2}' * 50


def test_truncated_archive(tmp_path):
    p = tmp_path / "a.zip"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("one.json", b"x" * 1000)
    p.write_bytes(p.read_bytes()[:60])
    [(name, err)] = list(iter_zip(p))
    assert name == "one.json" and isinstance(err, ZipMemberError)


@pytest.mark.parametrize("payload", [b"", b"not a zip at all"])
def test_not_a_zip(tmp_path, payload):
    p = tmp_path / "x.zip"
    p.write_bytes(payload)
    if payload:
        with pytest.raises(ZipMemberError):
            list(iter_zip(p))
    else:
        assert list(iter_zip(p)) == []
