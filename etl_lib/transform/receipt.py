"""What a receipt tells a partner about a rejected row: the line to open, the line as
delivered, and every rule it failed in the partner's words.

Spark's CSV reader numbers records (``_source_row``), not lines: a quoted value may span
lines, and blank lines are skipped. So the delivered file is read again as plain lines
(``spark.read.text``: splittable, any size) and ``numbered_lines`` gives each line its
number and the record it belongs to, from the quotes before it: a line that starts
outside a quoted value and is not blank starts a record (the rule Spark's reader follows,
for RFC 4180 quoting, where a doubled quote counts twice and changes nothing).
``rejected_lines`` then finds each rejected record's first line and its text.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from etl_lib.spec.model import DatasetSpec

FILE, ORDER, LINE, RECORD, VALUE, MULTILINE = "_file", "_order", "_line", "_record", "value", "_multiline"


def numbered_lines(lines: DataFrame, quote: str, header: bool) -> DataFrame:
    """Lines of one or more files (``_file``; ``_order`` sorts a file's lines in file order;
    ``value``; ``_multiline``: the file was read with ``multiLine``) -> ``_file``, ``_order``,
    ``_line`` (1-based) and ``_record``: the CSV record the line is part of, numbered like
    ``_source_row`` (1 = the first data record; the header is 0), or null for a line
    between records that the reader skipped: an empty line with ``multiLine``; otherwise
    a blank one (every character <= U+0020) or one starting with U+0000.

    Only narrow columns are sorted (the lines' text stays behind: ``rejected_lines`` joins
    it back for the few lines it needs)."""
    in_file = Window.partitionBy(FILE).orderBy(ORDER)
    before = in_file.rowsBetween(Window.unboundedPreceding, -1)
    upto = in_file.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    value = F.col(VALUE)
    quotes = F.length(value) - F.length(F.replace(value, F.lit(quote), F.lit("")))
    # What Spark's CSV readers skip: univocity (multiLine) empty lines; the line-based reader
    # blank ones (all characters <= U+0020) and those starting with U+0000.
    blank = F.when(F.col(MULTILINE), value == "").otherwise(~value.rlike("[^\\x00-\\x20]") | value.startswith("\u0000"))
    inside = F.coalesce(F.sum(F.col("_quotes")).over(before), F.lit(0)) % 2 == 1
    starts = (~F.col("_inside") & ~F.col("_blank")).cast("long")
    first = 1 if header else 0
    narrow = lines.select(FILE, ORDER, (quotes % 2).cast("byte").alias("_quotes"), blank.alias("_blank"))
    return (
        narrow.withColumn("_inside", inside)
        .withColumn(LINE, F.row_number().over(in_file))
        .withColumn("_starts", starts)
        .withColumn(RECORD, F.sum(F.col("_starts")).over(upto) - F.lit(first))
        .select(FILE, ORDER, LINE, F.when(F.col("_inside") | (F.col("_starts") == 1), F.col(RECORD)).alias(RECORD))
    )


BROADCAST_LINES = 2_000_000
"""Up to this many rejected rows, the lines to fetch are broadcast (the text is not shuffled)."""


def rejected_lines(numbered: DataFrame, lines: DataFrame, rejected: DataFrame, rejected_rows: int = 0) -> DataFrame:
    """``rejected`` (``_file``, ``_source_row``, ...) with ``_line``, the physical line its
    record starts on, and ``_raw_line``, the record's lines as delivered (joined by ``\\n``):
    ``numbered`` (from ``numbered_lines``) says which lines, ``lines`` their text.
    ``rejected_rows``: how many rows ``rejected`` holds, when known (up to ``BROADCAST_LINES``
    the lines wanted are broadcast to the text's scan instead of shuffling the text)."""
    wanted = rejected.select(F.col(FILE), F.col("_source_row").alias(RECORD)).distinct()
    parts = numbered.join(wanted, [FILE, RECORD], "left_semi")
    if 0 < rejected_rows <= BROADCAST_LINES:
        parts = F.broadcast(parts)
    text = lines.select(FILE, ORDER, VALUE).join(parts, [FILE, ORDER])
    by_record = text.groupBy(FILE, RECORD).agg(
        F.min(LINE).alias(LINE),
        F.concat_ws("\n", F.transform(F.sort_array(F.collect_list(F.struct(LINE, VALUE))), lambda x: x[VALUE])).alias(
            "_raw_line"
        ),
    )
    return rejected.join(by_record.withColumnRenamed(RECORD, "_source_row"), [FILE, "_source_row"], "left")


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
