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

from dataclasses import dataclass

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


@dataclass(frozen=True)
class LineLayout:
    """Where each file's lines are in a read, from ``line_stats``."""

    bases: tuple[tuple[int, int, int], ...]
    """(file, partition, base): a line's number is its ``_order`` minus the base."""
    specials: int
    """Special lines in all the files (none: every record is one line, ``record + header``)."""

    @property
    def files(self) -> tuple[int, ...]:
        """The files read."""
        return tuple(dict.fromkeys(file for file, _, _ in self.bases))

    @staticmethod
    def of(stats: DataFrame) -> LineLayout:
        """The layout of the files ``stats`` (``line_stats``) describe: one row per file and
        read partition comes to the driver, without the special lines."""
        rows = stats.select(FILE, PART, "_first", "_count", F.size("_specials").alias("_specials")).collect()
        by_file: dict[int, list[Row]] = {}
        for row in rows:
            by_file.setdefault(row[FILE], []).append(row)
        bases: list[tuple[int, int, int]] = []
        specials = 0
        for file, parts in sorted(by_file.items()):
            before = 0  # lines of the file in earlier partitions
            for part in sorted(parts, key=lambda r: r["_first"]):
                bases.append((file, part[PART], part["_first"] - before - 1))
                before += part["_count"]
                specials += part["_specials"]
        return LineLayout(tuple(bases), specials)

    def line(self) -> Column:
        """A line's 1-based number in its file, from ``_file``, ``_part`` and ``_order``."""
        base = F.create_map(*[F.lit(x).cast("long") for f, p, b in self.bases for x in ((f << 32) | p, b)])
        return F.col(ORDER) - F.element_at(base, F.shiftleft(F.col(FILE), 32).bitwiseOR(F.col(PART)))


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
        T.StructField(LINE, T.LongType()),
        T.StructField("_last", T.LongType()),
        T.StructField("_until", T.LongType()),
    ]
)
"""An anchor: record ``_record`` starts on line ``_line``. A run of one-line records (``_last``
null) goes on to line ``_until`` (null: the end of the file); a multi-line record ends on
line ``_last``."""


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
    until = F.col("_next") - 1

    def anchor(keep: Column, record: Column, first_line: Column, last: Column, run_until: Column) -> Column:
        return F.struct(
            keep.alias("keep"),
            record.alias(RECORD),
            first_line.alias(LINE),
            last.cast("long").alias("_last"),
            run_until.cast("long").alias("_until"),
        )

    multi_line = anchor(closes, opened - (lost - (line - opened)) - first, opened, line, F.lit(None))
    run = anchor(
        run_outside & (F.col("_next").isNull() | (until >= line + 1)),
        line + 1 - lost - first,
        line + 1,
        F.lit(None),
        until,
    )
    found = counted.select(FILE, F.explode(F.filter(F.array(multi_line, run), lambda a: a["keep"])).alias("_a"))
    return found.select(FILE, *[F.col("_a")[c].alias(c) for c in (RECORD, LINE, "_last", "_until")])


BROADCAST_LINES = 2_000_000
"""Up to this many rejected rows, the lines to fetch are broadcast (the text is not shuffled)."""


def rejected_lines(
    rejected: DataFrame,
    lines: DataFrame,
    found: DataFrame | None,
    header: bool,
    rejected_rows: int = 0,
) -> DataFrame:
    """``rejected`` (``_file``, ``_source_row``, ...) with ``_line``, the physical line its
    record starts on, and ``_raw_line``, the record's lines as delivered (joined by ``\\n``).

    ``lines``: numbered lines (``with_line_numbers``) with their text; ``found``: the
    ``anchors`` of their special lines (None when there are none: every record is one line).
    ``rejected_rows``: how many rows ``rejected`` holds, when known (up to
    ``BROADCAST_LINES`` the lines wanted are broadcast to the text's scan instead of
    shuffling the text)."""
    records = rejected.select(F.col(FILE), F.col("_source_row").alias(RECORD))
    first = 1 if header else 0
    if found is None:  # every record is one line
        spans = records.select(
            FILE, RECORD, (F.col(RECORD) + first).alias(LINE), (F.col(RECORD) + first).alias("_last")
        )
    else:
        spans = _find_anchors(records, found)
    wanted = spans.select(FILE, RECORD, F.explode(F.sequence(LINE, "_last")).alias(LINE))
    if 0 < rejected_rows <= BROADCAST_LINES:
        wanted = F.broadcast(wanted)
    text = lines.select(FILE, LINE, VALUE).join(wanted, [FILE, LINE])
    by_record = text.groupBy(FILE, RECORD).agg(
        F.min(LINE).alias(LINE),
        F.concat_ws("\n", F.transform(F.sort_array(F.collect_list(F.struct(LINE, VALUE))), lambda x: x[VALUE])).alias(
            "_raw_line"
        ),
    )
    return rejected.join(by_record.withColumnRenamed(RECORD, "_source_row"), [FILE, "_source_row"], "left")


def _find_anchors(records: DataFrame, found: DataFrame) -> DataFrame:
    """Records (``_file``, ``_record``) -> ``_file``, ``_record``, ``_line`` and ``_last``
    (their first and last lines), from the anchor at or before each record: the records and
    the anchors sorted together, by file (rows: the rejected records and the anchors)."""
    asked = records.select(FILE, RECORD, *[F.lit(None).cast("long").alias(c) for c in (LINE, "_last", "_until")])
    both = found.select(FILE, RECORD, LINE, "_last", "_until").unionByName(asked)
    anchor = F.struct(F.col(RECORD).alias("at"), F.col(LINE).alias("line"), "_last", "_until")
    order = Window.partitionBy(FILE).orderBy(RECORD, F.col(LINE).asc_nulls_last())
    upto = order.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    matched = both.select(
        FILE, RECORD, F.col(LINE).isNull().alias("_asked"),
        F.last(F.when(F.col(LINE).isNotNull(), anchor), ignorenulls=True).over(upto).alias("_a"),
    ).where("_asked")  # fmt: skip
    a = F.col("_a")
    run_line = a["line"] + (F.col(RECORD) - a["at"])
    in_run = a["_last"].isNull() & (a["_until"].isNull() | (run_line <= a["_until"]))
    line = F.when(in_run, run_line).when(a["_last"].isNotNull() & (F.col(RECORD) == a["at"]), a["line"])
    return matched.select(
        FILE, RECORD, line.alias(LINE), F.when(in_run, run_line).otherwise(a["_last"]).alias("_last")
    ).where(F.col(LINE).isNotNull())


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
