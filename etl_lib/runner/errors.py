"""Turn Spark and Java exceptions into one line for people and the ledger."""

from __future__ import annotations

import re

_JAVA_PREFIX = re.compile(r"^(?:[a-z][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error): ")


def one_line(exc: BaseException) -> str:
    """The most telling line of an exception: the innermost Java cause when there is one."""
    text = str(exc)
    causes = re.findall(r"Caused by: ([^\n]+)", text)
    # Py4J: "An error occurred while calling o42.json.\n: java.lang.SomeError: what happened"
    raised = re.findall(r"^: ([^\n]+)", text, flags=re.MULTILINE)
    first = next((ln for ln in text.splitlines() if ln.strip()), type(exc).__name__)
    line = causes[-1] if causes else raised[0] if raised else first
    line = line.strip()
    if "Job aborted due to stage failure" in line and ": " in line:
        line = line.rsplit(": ", 1)[-1]
    cleaned = _JAVA_PREFIX.sub("", line)
    kind = line[: len(line) - len(cleaned)].rstrip(": ").rsplit(".", 1)[-1]
    message = f"{kind}: {cleaned}" if kind else cleaned
    return short_reason(message)


MAX_REASON = 300


def short_reason(text: str) -> str:
    """One line of at most ``MAX_REASON`` characters: what the ledger, the CLI and SNS show."""
    line = " ".join(text.split())
    return line if len(line) <= MAX_REASON else line[: MAX_REASON - 1] + "…"
