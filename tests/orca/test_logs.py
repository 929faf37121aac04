"""Logs: JSON lines, access lines batched into whole-line writes no larger than a pipe's atomic size."""

from __future__ import annotations

import json
import logging
import os
import select

import pytest

from orca.logs import AccessLogWriter, JSONFormatter


def read_all(fd: int) -> bytes:
    os.set_blocking(fd, False)
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_access_lines_are_queued_until_flushed_then_written_whole() -> None:
    read, write = os.pipe()
    try:
        writer = AccessLogWriter(fd=write)
        writer.write({"method": "GET", "path": "/a", "status": 200})
        writer.write({"method": "GET", "path": "/b", "status": 503})
        assert read_all(read) == b""
        writer.flush()
        lines = [json.loads(line) for line in read_all(read).splitlines()]
    finally:
        os.close(read)
        os.close(write)
    assert [(line["path"], line["status"]) for line in lines] == [("/a", 200), ("/b", 503)]
    assert all(line["time"].endswith("+00:00") and line["logger"] == "orca.access" for line in lines)


def test_each_write_holds_whole_lines_within_the_atomic_pipe_size() -> None:
    writes: list[bytes] = []
    writer = AccessLogWriter(fd=-1)
    writer._write = writes.append  # type: ignore[method-assign]  # observe the writes themselves
    for i in range(500):
        writer.write({"path": f"/{i}" + "x" * 100})
    writer.flush()
    assert len(writes) > 1
    assert all(len(w) <= select.PIPE_BUF and w.endswith(b"\n") for w in writes)
    assert sum(w.count(b"\n") for w in writes) == 500


def test_a_full_buffer_is_written_without_waiting_for_the_timer() -> None:
    writes: list[bytes] = []
    writer = AccessLogWriter(fd=-1, max_bytes=1000)
    writer._write = writes.append  # type: ignore[method-assign]
    for i in range(20):
        writer.write({"path": f"/{i}" + "x" * 100})
    assert writes


def test_access_lines_are_off_above_info() -> None:
    writes: list[bytes] = []
    writer = AccessLogWriter(fd=-1, level="WARNING")
    writer._write = writes.append  # type: ignore[method-assign]
    writer.write({"path": "/quiet"})
    writer.flush()
    assert writes == []


def test_formatter_puts_extra_fields_and_the_error_with_its_cause_on_one_line() -> None:
    try:
        try:
            raise ConnectionError("refused")
        except ConnectionError as e:
            raise RuntimeError("pool failed") from e
    except RuntimeError as e:
        record = logging.LogRecord("orca", logging.ERROR, __file__, 1, "boom %s", ("now",), (type(e), e, None))
    record.request_id = "rid-1"
    line = JSONFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["message"] == "boom now"
    assert parsed["request_id"] == "rid-1"
    assert parsed["error"] == "RuntimeError: pool failed"
    assert parsed["cause"] == "ConnectionError: refused"


@pytest.mark.parametrize("level", ["DEBUG", "INFO"])
def test_access_lines_are_on_at_info_and_below(level: str) -> None:
    writes: list[bytes] = []
    writer = AccessLogWriter(fd=-1, level=level)
    writer._write = writes.append  # type: ignore[method-assign]
    writer.write({"path": "/loud"})
    writer.flush()
    assert len(writes) == 1
