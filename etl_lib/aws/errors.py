"""botocore's errors, sorted into our transient and terminal ones.

Each AWS adapter wraps its calls in ``translated(...)`` with its own pair of
classes (``StorageUnavailable``/``StorageError``, ``LedgerUnavailable``/
``LedgerError``, ...). botocore has already retried throttling, 5xx and
connection errors with backoff (``clients.RETRIES``) by the time an error gets
here, so a transient error that reaches us has persisted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from etl_lib.errors import EtlError

# Error codes AWS services return for conditions a later attempt may not meet.
TRANSIENT_CODES = frozenset(
    {
        "BandwidthLimitExceeded",
        "ConcurrentModificationException",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "InternalServiceException",
        "KMSThrottlingException",
        "LimitExceededException",
        "OperationTimeoutException",
        "PriorRequestNotComplete",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestTimeout",
        "RequestTimeoutException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "SlowDown",
        "ThrottledException",
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "TransactionInProgressException",
    }
)


def _response(exc: BaseException) -> dict[str, Any]:
    response = getattr(exc, "response", None)
    return response if isinstance(response, dict) else {}


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (``SlowDown``, ``AccessDenied``...)."""
    code = _response(exc).get("Error", {}).get("Code")
    return str(code) if code else None


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of a botocore ``ClientError``."""
    status = _response(exc).get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if status else None


def is_transient(exc: BaseException) -> bool:
    """True for throttling, 5xx, timeouts and broken connections; False for refusals and bad requests."""
    from botocore.exceptions import (
        ConnectionError as BotoConnectionError,
    )
    from botocore.exceptions import (
        HTTPClientError,
        IncompleteReadError,
        ResponseStreamingError,
    )

    if isinstance(exc, BotoConnectionError | HTTPClientError | IncompleteReadError | ResponseStreamingError):
        return True
    if isinstance(exc, ConnectionError | TimeoutError):  # socket resets and timeouts while streaming a body
        return True
    code, status = error_code(exc), http_status(exc)
    if code is not None or status is not None:
        return code in TRANSIENT_CODES or (status is not None and (status >= 500 or status == 429))
    return type(exc).__module__.startswith("urllib3")


def describe(exc: BaseException) -> str:
    """One line: ``SlowDown (HTTP 503): Please reduce your request rate.``"""
    code, status = error_code(exc), http_status(exc)
    if code is not None:
        message = _response(exc).get("Error", {}).get("Message") or ""
        where = f" (HTTP {status})" if status else ""
        return f"{code}{where}" + (f": {message}" if message else "")
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def translate(exc: BaseException, what: str, transient: type[EtlError], terminal: type[EtlError]) -> EtlError:
    """``exc`` as ``transient`` or ``terminal``, with a one-line message starting with ``what``."""
    cls = transient if is_transient(exc) else terminal
    return cls(f"{what}: {describe(exc)}")


@contextmanager
def translated(what: str, transient: type[EtlError], terminal: type[EtlError]) -> Iterator[None]:
    """Re-raise any botocore (or connection) error of the block as ``transient`` or ``terminal``."""
    try:
        yield
    except EtlError:
        raise
    except Exception as exc:
        raise translate(exc, what, transient, terminal) from None
