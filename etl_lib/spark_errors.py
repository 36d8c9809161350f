"""Spark's (and Py4J's) errors, sorted into ours at the engine's boundary.

What Spark raises while it reads or writes a file falls in one of four kinds:

- the engine failed: the JVM died, ran out of memory, lost an executor ->
  ``EngineError`` (transient), with the setting to change;
- the lake did not answer (S3 throttling, 5xx, timeouts, resets, after S3A's
  own retries) -> ``StorageUnavailable`` (transient);
- the lake refused (access denied, no such bucket) -> ``StorageError``;
- anything else is the file's own problem (a corrupt gzip, bytes that are not
  text) -> ``SourceFileError``, recorded as the file's failure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from etl_lib.errors import EngineError, EtlError, SourceFileError, StorageError, StorageUnavailable
from etl_lib.runner.errors import one_line

MEMORY_HINT = (
    "raise the memory Spark has: ETL_LIB_DRIVER_MEMORY locally (default 2g), "
    "a larger --worker-type on Glue (G.2X or G.4X); the next run retries this file"
)

_OUT_OF_MEMORY = re.compile(r"OutOfMemoryError|GC overhead limit exceeded|SparkOutOfMemoryError|Java heap space")
_EXECUTOR_LOST = re.compile(
    r"ExecutorLostFailure|Executor heartbeat timed out|exceeding memory limits|exit code 137|"
    r"Container killed|worker lost|Remote RPC client disassociated"
)
_ENGINE_GONE = re.compile(
    r"SparkContext was shut down|Cannot call methods on a stopped SparkContext|"
    r"Answer from Java side is empty|Error while receiving|Error while sending"
)
_STORAGE_TRANSIENT = re.compile(
    r"AWSServiceThrottledException|AWSStatus500Exception|SlowDown|Status Code: 50[0-9]|"
    r"\bServiceUnavailable\b|\bInternalError\b|\bRequestTimeout\b|SocketTimeoutException|ConnectTimeoutException|"
    r"NoHttpResponseException|Connection reset|Unable to execute HTTP request|ConnectionPoolTimeoutException|"
    r"AWSClientIOException|SdkClientException|Broken pipe|Premature end of Content-Length|Connection refused"
)
_STORAGE_REFUSED = re.compile(
    r"AccessDeniedException|Status Code: 403|Forbidden|NoSuchBucket|UnknownStoreException|"
    r"InvalidAccessKeyId|SignatureDoesNotMatch|ExpiredToken"
)


def translate_spark_error(exc: BaseException, source: str) -> EtlError:
    """The ``EtlError`` for an exception Spark or Py4J raised while working on ``source``."""
    if isinstance(exc, EtlError):
        return exc
    from py4j.protocol import Py4JError, Py4JJavaError

    text = _messages(str(exc))
    if isinstance(exc, ConnectionError) or (isinstance(exc, Py4JError) and not isinstance(exc, Py4JJavaError)):
        return EngineError(
            f"{source}: the Spark JVM is gone ({one_line(exc)}); it most likely ran out of memory: {MEMORY_HINT}"
        )
    if _OUT_OF_MEMORY.search(text):
        return EngineError(f"{source}: Spark ran out of memory ({one_line(exc)}); {MEMORY_HINT}")
    if _EXECUTOR_LOST.search(text):
        return EngineError(f"{source}: Spark lost an executor ({one_line(exc)}); {MEMORY_HINT}")
    if _ENGINE_GONE.search(text):
        return EngineError(f"{source}: the Spark engine stopped ({one_line(exc)}); the next run retries this file")
    if _STORAGE_TRANSIENT.search(text):
        return StorageUnavailable(f"{source}: the lake did not answer Spark ({one_line(exc)})")
    if _STORAGE_REFUSED.search(text):
        return StorageError(f"{source}: the lake refused Spark ({one_line(exc)})")
    return SourceFileError(source, one_line(exc))


def _messages(text: str) -> str:
    """The message lines of a Java error, without its stack frames (whose method names mislead)."""
    return "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith(("at ", "... ")))


@contextmanager
def spark_errors(source: str) -> Iterator[None]:
    """Re-raise what Spark raises in the block as our transient or terminal errors."""
    try:
        yield
    except EtlError:
        raise
    except Exception as exc:
        raise translate_spark_error(exc, source) from None
