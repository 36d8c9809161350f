"""What a receipt tells a partner about a rejected row: the line to open, the line as
delivered, and every rule it failed in the partner's words.

Spark's CSV reader numbers records (``_source_row``), not lines: a quoted value may span
lines, and blank lines are skipped. So the delivered files are read again as plain lines
(``spark.read.text``: splittable, any size). Most lines are plain: one line, one record.
Only a special line breaks that: one with an odd number of quotes (it opens or closes a
quoted value; RFC 4180's doubled quote counts twice and changes nothing) or one the reader
skips. Nothing sorts the lines:

- ``line_stats``: one pass, no sort: per file and read partition, where its lines start in
  the file (``LineLayout``: a line's number is its read order minus a base), and its
  special lines (``special_lines``);
- ``anchors``: the special lines alone, in file order, say where each run of plain lines
  starts and which record it starts with, and where each multi-line record starts and ends;
- ``rejected_lines``: each rejected record finds its anchor (the rejected records and the
  anchors sorted together), then its lines' text in one join with a second read of the text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame, Row, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl_lib.spec.model import DatasetSpec

FILE, PART, ORDER, LINE, RECORD, VALUE, MULTILINE = (
    "_file",
    "_part",
    "_order",
    "_line",
    "_record",
    "value",
    "_multiline",
)
"""Columns of the lines: the file (a number), the read partition, the read order, the 1-based
line number, the record, the text, and whether the file was read with ``multiLine``."""


def literal_map(values: Mapping[Any, Any]) -> Column:
    """A map literal, as one SQL expression (one call to the JVM, however many entries;
    integers are ``bigint``)."""

    def sql(value: str | int | bool) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return f"{value}L"
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    if not values:
        return F.create_map()
    return F.expr("map(" + ", ".join(f"{sql(k)}, {sql(v)}" for k, v in values.items()) + ")")


def _odd_quotes(quote: str) -> Column:
    """The line opens or closes a quoted value: an odd number of quote characters."""
    value = F.col(VALUE)
    count = F.length(value) - F.length(F.replace(value, F.lit(quote), F.lit("")))
    return F.when(F.instr(value, quote) > 0, count % 2 == 1).otherwise(F.lit(False))  # most lines: no quote


def _skipped() -> Column:
    """A line Spark's CSV readers skip between records: univocity (``multiLine``) skips empty
    lines; the line-based reader blank ones (every character <= U+0020) and those starting
    with U+0000."""
    value = F.col(VALUE)
    return F.when(F.col(MULTILINE), value == "").otherwise(~value.rlike("[^\\x00-\\x20]") | value.startswith("\u0000"))


def line_stats(lines: DataFrame, quote: str) -> DataFrame:
    """Lines (``_file``, ``_part``: the read partition, ``_order``: increasing in file order,
    ``value``, ``_multiline``) -> one row per file and partition: ``_first`` (its first
    ``_order``), ``_count`` (its lines) and ``_specials`` (its special lines: ``_order``,
    ``_odd``, ``_skip``). One pass, no sort; persist it: ``LineLayout`` reads the counts and
    ``special_lines`` the specials."""
    flagged = lines.select(FILE, PART, ORDER, _odd_quotes(quote).alias("_odd"), _skipped().alias("_skip"))
    special = F.when(F.col("_odd") | F.col("_skip"), F.struct(ORDER, "_odd", "_skip"))
    return flagged.groupBy(FILE, PART).agg(
        F.min(ORDER).alias("_first"),
        F.count(F.lit(1)).alias("_count"),
        F.collect_list(special).alias("_specials"),  # nulls (plain lines) left out
    )


SPECIALS_ON_DRIVER = 2_000
"""Up to this many special lines per file and read partition (a partition is at most 128 MB of
text), they come to the driver with the layout, and the anchors are worked out there; more
in any, and Spark works them out (``anchors``). So the driver gets at most this many small
tuples per read partition: metadata, like the partitions' line counts."""


@dataclass(frozen=True)
class LineLayout:
    """Where each file's lines are in a read, from ``line_stats``."""

    bases: tuple[tuple[int, int, int], ...]
    """(file, partition, base): a line's number is its ``_order`` minus the base."""
    specials: int
    """Special lines in all the files (none: every record is one line, ``record + header``)."""
    line_counts: tuple[tuple[int, int], ...] = ()
    """(file, lines)."""
    special_lines: tuple[tuple[int, int, bool, bool], ...] | None = ()
    """(file, line, odd quotes, skipped), in file order; None when there were too many to
    bring to the driver (``SPECIALS_ON_DRIVER``)."""

    @property
    def lines(self) -> dict[int, int]:
        """The lines of each file."""
        return dict(self.line_counts)

    @property
    def files(self) -> tuple[int, ...]:
        """The files read."""
        return tuple(dict.fromkeys(file for file, _, _ in self.bases))

    @staticmethod
    def of(stats: DataFrame, on_driver: int = SPECIALS_ON_DRIVER) -> LineLayout:
        """The layout of the files ``stats`` (``line_stats``) describe: one row per file and
        read partition comes to the driver, with up to ``on_driver`` special lines each."""
        rows = stats.select(
            FILE,
            PART,
            "_first",
            "_count",
            F.size("_specials").alias("_n"),
            F.slice("_specials", 1, on_driver).alias("_s"),
        ).collect()
        by_file: dict[int, list[Row]] = {}
        for row in rows:
            by_file.setdefault(row[FILE], []).append(row)
        bases: list[tuple[int, int, int]] = []
        counts: list[tuple[int, int]] = []
        specials: list[tuple[int, int, bool, bool]] = []
        for file, parts in sorted(by_file.items()):
            before = 0  # lines of the file in earlier partitions
            for part in sorted(parts, key=lambda r: r["_first"]):
                base = part["_first"] - before - 1
                bases.append((file, part[PART], base))
                before += part["_count"]
                specials += sorted((file, s[ORDER] - base, s["_odd"], s["_skip"]) for s in part["_s"])
            counts.append((file, before))
        total = sum(row["_n"] for row in rows)
        return LineLayout(tuple(bases), total, tuple(counts), tuple(specials) if len(specials) == total else None)

    def line(self) -> Column:
        """A line's 1-based number in its file, from ``_file``, ``_part`` and ``_order``."""
        base = literal_map({(f << 32) | p: b for f, p, b in self.bases})
        return F.col(ORDER) - F.element_at(base, F.shiftleft(F.col(FILE), 32).bitwiseOR(F.col(PART)))

    def anchors(self, header: bool) -> list[tuple[int, int, int, int, int | None]]:
        """The ``ANCHOR`` rows, worked out from ``special_lines`` (which must be known): what
        ``anchors`` does in Spark, line by line."""
        if self.special_lines is None:
            raise ValueError("the special lines were too many to bring to the driver")
        first = 1 if header else 0
        by_file: dict[int, list[tuple[int, bool, bool]]] = {file: [(0, False, False)] for file in self.files}
        for file, line, odd, skip in self.special_lines:
            by_file[file].append((line, odd, skip))
        found: list[tuple[int, int, int, int, int | None]] = []
        for file, events in by_file.items():
            inside, opened, lost = False, 0, 0
            for n, (line, odd, skip) in enumerate(events):
                if odd and inside:  # closes the value opened on line `opened`
                    record = opened - lost - first
                    found.append((file, record, record, opened, line))
                    lost += line - opened
                elif skip and not inside:
                    lost += 1
                if odd:
                    inside, opened = not inside, line if not inside else opened
                end = events[n + 1][0] - 1 if n + 1 < len(events) else self.lines[file]
                if not inside and end >= line + 1:  # a run of one-line records
                    record = line + 1 - lost - first
                    found.append((file, record, record + end - (line + 1), line + 1, None))
        return found


def with_line_numbers(lines: DataFrame, layout: LineLayout) -> DataFrame:
    """``lines`` with ``_line``, each line's 1-based number in its file."""
    return lines.withColumn(LINE, layout.line())


def special_lines(stats: DataFrame, layout: LineLayout) -> DataFrame:
    """The special lines of ``line_stats``: ``_file``, ``_line``, ``_odd`` and ``_skip``."""
    found = stats.select(FILE, PART, F.explode("_specials").alias("_s"))
    return found.select(FILE, PART, F.col("_s")[ORDER].alias(ORDER), "_s._odd", "_s._skip").select(
        FILE, layout.line().alias(LINE), "_odd", "_skip"
    )


ANCHOR = T.StructType(
    [
        T.StructField(FILE, T.LongType()),
        T.StructField(RECORD, T.LongType()),
        T.StructField("_end", T.LongType()),
        T.StructField(LINE, T.LongType()),
        T.StructField("_last", T.LongType()),
    ]
)
"""An anchor: records ``_record`` to ``_end`` start on line ``_line`` and those after it, one
line each (``_last`` null), or record ``_record`` (= ``_end``) spans lines ``_line`` to
``_last``."""


def anchors(special: DataFrame, layout: LineLayout, header: bool) -> DataFrame:
    """Special lines (``special_lines``) -> the ``ANCHOR`` rows of their files.

    A start line (one that begins a record) is a plain line outside a quoted value, or a line
    that opens one. Its record is its line, less the lines before it that began no record
    (skipped ones, and those inside a quoted value), less the header. Only the special lines
    are sorted, with a line 0 per file for the run before the first one."""
    first = 1 if header else 0
    starts = special.sparkSession.createDataFrame(  # a line 0 per file, before its first line
        [(file, 0, False, False) for file in layout.files], f"{FILE} long, {LINE} long, _odd boolean, _skip boolean"
    )
    in_file = Window.partitionBy(FILE).orderBy(LINE)
    before = in_file.rowsBetween(Window.unboundedPreceding, -1)
    upto = in_file.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    odd, skip, line = F.col("_odd"), F.col("_skip"), F.col(LINE)
    stepped = (
        special.select(FILE, LINE, "_odd", "_skip")
        .union(starts)
        .select(
            "*",
            (F.coalesce(F.sum(odd.cast("int")).over(before), F.lit(0)) % 2 == 1).alias("_inside"),
            F.last(F.when(odd, line), ignorenulls=True).over(before).alias("_opened"),
            F.lead(line).over(in_file).alias("_next"),
        )
    )
    inside, opened = F.col("_inside"), F.col("_opened")
    no_start = F.when(odd & inside, line - opened).when(skip & ~inside, 1).otherwise(0)  # lines that began no record
    counted = stepped.withColumn("_lost", F.sum(no_start).over(upto))
    lost = F.col("_lost")
    closes = odd & inside  # the record that opened on line _opened ends here
    run_outside = inside == odd  # the plain lines after this one are outside a quoted value
    lines_in = F.element_at(literal_map(layout.lines), F.col(FILE))
    run_end = F.coalesce(F.col("_next") - 1, lines_in)  # the run's last line

    def anchor(keep: Column, record: Column, end: Column, first_line: Column, last: Column) -> Column:
        return F.struct(
            keep.alias("keep"),
            record.alias(RECORD),
            end.alias("_end"),
            first_line.alias(LINE),
            last.cast("long").alias("_last"),
        )

    multi_record = opened - (lost - (line - opened)) - first
    multi_line = anchor(closes, multi_record, multi_record, opened, line)
    run_record = line + 1 - lost - first
    run = anchor(
        run_outside & (run_end >= line + 1), run_record, run_record + run_end - (line + 1), line + 1, F.lit(None)
    )
    found = counted.select(FILE, F.explode(F.filter(F.array(multi_line, run), lambda a: a["keep"])).alias("_a"))
    return found.select(FILE, *[F.col("_a")[c].alias(c) for c in (RECORD, "_end", LINE, "_last")])


def records_counted(found: DataFrame) -> DataFrame:
    """``anchors`` -> ``_file``, ``_records``: the records the lines say each file holds (to
    check against the records Spark's reader found)."""
    return found.groupBy(FILE).agg(F.max("_end").alias("_records"))


BUCKET = 1024
"""Records per bucket of the anchor lookup: a record is compared with the anchors of its bucket."""


def with_spans(rows: DataFrame, found: DataFrame | None, header: bool, files: Iterable[int]) -> DataFrame:
    """Rows (``_file``, ``_record``, ...) with ``_line`` and ``_last``: the first and last
    lines of their record; null for the files not in ``files`` (whose lines are not known).

    ``found``: the ``anchors`` of the files' special lines (None: there are none, every
    record is one line). Each record is joined to the anchor that covers it, by file and
    bucket of records (the anchors are broadcast: a few per bucket)."""
    first = 1 if header else 0
    known = F.col(FILE).isin(*files)
    record = F.col(RECORD)
    if found is None:
        line = F.when(known, record + first)
        return rows.withColumn(LINE, line).withColumn("_last", line)
    start, end = F.col(RECORD), F.col("_end")
    buckets = found.select(
        F.col(FILE).alias("_a_file"),
        F.explode(F.sequence(F.floor(start / BUCKET), F.floor(end / BUCKET))).alias("_a_bucket"),
        start.alias("_a_record"),
        end.alias("_a_end"),
        F.col(LINE).alias("_a_line"),
        F.col("_last").alias("_a_last"),
    )
    asked = rows.withColumn("_bucket", F.when(known, F.floor(record / BUCKET)))
    covers = (
        (F.col(FILE) == F.col("_a_file"))
        & (F.col("_bucket") == F.col("_a_bucket"))
        & record.between(F.col("_a_record"), F.col("_a_end"))
    )
    joined = asked.join(F.broadcast(buckets), covers, "left")
    multi = F.col("_a_last").isNotNull()
    line = F.when(multi, F.col("_a_line")).otherwise(F.col("_a_line") + (record - F.col("_a_record")))
    return (
        joined.withColumn(LINE, line)
        .withColumn("_last", F.when(multi, F.col("_a_last")).otherwise(line))
        .drop("_bucket", "_a_file", "_a_bucket", "_a_record", "_a_end", "_a_line", "_a_last")
    )


BROADCAST_ROWS = 200_000
"""Up to this many rejected rows, they are broadcast to the text's scan (the text is not shuffled)."""


def with_text(rows: DataFrame, lines: DataFrame, rejected_rows: int) -> DataFrame:
    """Rows with ``_line`` and ``_last`` (``with_spans``) -> one row per line of each record,
    with its text in ``value``, for the rows with lines; the others once, ``value`` null.

    ``lines``: the numbered lines (``with_line_numbers``). ``rejected_rows``: how many rows
    there are (up to ``BROADCAST_ROWS`` they are broadcast to the scan of the text)."""
    spanned = rows.where(F.col(LINE).isNotNull()).withColumn(LINE, F.explode(F.sequence(LINE, "_last")))
    if rejected_rows <= BROADCAST_ROWS:
        spanned = F.broadcast(spanned)
    found = lines.select(FILE, LINE, VALUE).join(spanned, [FILE, LINE])
    unknown = rows.where(F.col(LINE).isNull()).withColumn(VALUE, F.lit(None).cast("string"))
    return found.unionByName(unknown).drop("_last")


def whole_records(lines_of_records: DataFrame, keys: list[str], carried: list[str]) -> DataFrame:
    """One row per record again (``keys``), from ``with_text``: ``_line`` its first line,
    ``_raw_line`` its lines as delivered (joined by ``\\n``), ``carried`` columns as they were.
    Grouped by ``keys`` (partition by a prefix of them first to write without a shuffle)."""
    text = F.transform(F.sort_array(F.collect_list(F.struct(LINE, VALUE))), lambda x: x[VALUE])
    return lines_of_records.groupBy(*keys).agg(
        F.min(LINE).alias(LINE),
        F.when(F.count(VALUE) > 0, F.concat_ws("\n", text)).alias("_raw_line"),
        *[F.first(c).alias(c) for c in carried],
    )


def _phrase(rest: Column, value: Column) -> Column:
    """A reason's rule (after ``column: ``) in a partner's words, with the value as delivered."""
    quoted = F.concat(F.lit("'"), value, F.lit("'"))
    rules = [
        ("not a valid ", "is not a valid "),
        ("not one of ", "is not one of "),
        ("below min ", "is below the minimum "),
        ("above max ", "is above the maximum "),
        ("does not match pattern ", "does not match the pattern "),
    ]
    worded: Column = rest
    for start, words in reversed(rules):
        worded = F.when(
            rest.startswith(start), F.concat(F.lit(words), F.substring(rest, len(start) + 1, 1 << 20))
        ).otherwise(worded)
    known = F.lit(False)
    for start, _ in rules:
        known = known | rest.startswith(start)
    return F.when(known & value.isNotNull(), F.concat(quoted, F.lit(" "), worded)).otherwise(
        F.when(rest == "required value is missing", F.lit("a value is required")).otherwise(rest)
    )


def partner_problems(spec: DatasetSpec, raw: Column) -> Column:
    """``_reasons`` as a partner reads them: ``amount: 'n/a' is not a valid decimal(18,2)``.

    ``raw`` is the record's values by header (a map); a column's value is found under its
    ``source`` names or its own name."""
    values: list[Column] = []
    for column in spec.columns:
        found = [F.element_at(raw, F.lit(h)) for h in dict.fromkeys([*column.sources, column.name])]
        values += [F.lit(column.name), F.coalesce(*found) if len(found) > 1 else found[0]]
    by_column = F.create_map(*values) if values else F.create_map()

    def worded(reason: Column) -> Column:
        name = F.substring_index(reason, ": ", 1)
        tail = reason.substr(F.length(name) + 3, F.lit(1 << 20))
        return F.concat(name, F.lit(": "), _phrase(tail, F.element_at(by_column, name)))

    return F.transform(F.col("_reasons"), worded)
