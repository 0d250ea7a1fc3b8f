"""The pool and the worker process speak one frame codec, and raise one set of errors."""

from __future__ import annotations

import json
import os

import pytest

from hms.local import errors, workers
from hms.local.frames import FrameDecoder, encode_frame, read_frame, write_all


def test_frames_fed_in_any_chunks_come_out_whole_and_in_order() -> None:
    objects = [{"id": 1, "event": {"body": "é" * 300}}, {"id": 2, "result": None}, []]
    stream = b"".join(encode_frame(obj) for obj in objects)
    decoder = FrameDecoder()
    bodies = [body for i in range(0, len(stream), 7) for body in decoder.feed(stream[i : i + 7])]
    assert [json.loads(body) for body in bodies] == objects


def test_the_worker_reads_what_the_pool_writes_over_a_pipe() -> None:
    r, w = os.pipe()
    try:
        write_all(w, encode_frame({"id": 3, "timeout": 1.5}))
        assert read_frame(r) == {"id": 3, "timeout": 1.5}
        os.close(w)
        with pytest.raises(EOFError):
            read_frame(r)
    finally:
        os.close(r)


def test_a_result_that_is_not_json_is_refused_as_lambda_refuses_it() -> None:
    with pytest.raises(ValueError):
        encode_frame({"result": float("nan")}, allow_nan=False)


def test_the_pool_raises_the_runtime_errors_of_hms_local_errors() -> None:
    assert workers.WindowThrottledError is errors.WindowThrottledError
    failed = errors.WindowFailedError("payments", "KeyError", "'x'", ["line"])
    assert (str(failed), failed.window, failed.error_type, failed.trace) == (
        "payments: KeyError: 'x'",
        "payments",
        "KeyError",
        ["line"],
    )
    unavailable = errors.WindowUnavailableError("restarting", retry_after=3)
    assert (unavailable.window, unavailable.message, unavailable.retry_after) == (None, "restarting", 3)
