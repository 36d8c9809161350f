"""Failure switches for the local twins (storage, ledger, notifier, catalog).

A twin asks ``faults.check(operation, subject)`` before doing the work; a
matching ``Fault`` raises the twin's own transient or terminal error, as its
AWS counterpart would after botocore gave up. This is how the pipeline's error
paths are tested without a cloud::

    faults = Faults(Fault("storage.move", match="processed/", times=1))
    storage = LocalStorage(root, faults=faults)

Operations are named ``{edge}.{method}``: ``storage.list``, ``storage.open``,
``storage.checksum``, ``storage.copy``, ``storage.move``, ``storage.delete``,
``storage.delete_prefix``, ``storage.write_text``, ``ledger.claim_file``,
``ledger.save_file``, ``ledger.get_file``, ``ledger.files``, ``ledger.save_run``,
``notifier.notify``, ``catalog.register``.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from etl_lib.errors import EtlError


@dataclass
class Fault:
    """Fail ``operation`` calls whose subject contains ``match``.

    ``after`` matching calls go through first; then ``times`` calls fail (every
    one when None). ``transient`` picks the twin's transient or terminal error.
    ``when`` (optional) must also return True for the subject.
    """

    operation: str
    match: str = ""
    times: int | None = None
    after: int = 0
    transient: bool = True
    when: Callable[[str], bool] | None = None


class Faults:
    """The switches of one or more twins, and how often each operation was called."""

    def __init__(self, *faults: Fault) -> None:
        self.faults = list(faults)
        self.calls: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self._seen: Counter[int] = Counter()
        self._lock = threading.Lock()

    @classmethod
    def always(cls, operations: Iterable[str]) -> Faults:
        """Every call of these operations fails (transiently)."""
        return cls(*(Fault(op) for op in operations))

    def add(self, fault: Fault) -> None:
        """Switch on one more fault."""
        with self._lock:
            self.faults.append(fault)

    def clear(self) -> None:
        """Switch every fault off (the counts stay)."""
        with self._lock:
            self.faults.clear()

    def check(self, operation: str, subject: str, transient: type[EtlError], terminal: type[EtlError]) -> None:
        """Raise ``transient``/``terminal`` when a fault matches this call."""
        with self._lock:
            self.calls[operation] += 1
            for fault in self.faults:
                if fault.operation != operation or fault.match not in subject:
                    continue
                if fault.when is not None and not fault.when(subject):
                    continue
                self._seen[id(fault)] += 1
                seen = self._seen[id(fault)]
                if seen <= fault.after:
                    continue
                if fault.times is not None and seen > fault.after + fault.times:
                    continue
                self.failed[operation] += 1
                cls = transient if fault.transient else terminal
                raise cls(f"{operation} {subject}: injected {'transient' if fault.transient else 'terminal'} fault")
