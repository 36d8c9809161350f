"""The Iceberg edge: analytics-ready tables in an Iceberg catalog, written in staged commits.

On Glue the Spark catalog ``lake`` is Iceberg's Glue catalog (the job's ``--conf``, set by the
customer stack); its namespace is the customer's Glue database and a table lives at
``analytics-ready/{name}/`` (``data/`` and ``metadata/``). Anywhere else a Hadoop catalog under
the lake's ``_meta/iceberg/`` keeps the metadata, and the data files go to
``analytics-ready/{name}/data/`` as on AWS: no AWS and no database needed.

Every write is *staged* (Iceberg's write-audit-publish: ``spark.wap.id``), then published by
``cherrypick_snapshot``: readers see the table before or after it, never between. Publishing
fast-forwards when nobody committed since the write started; otherwise an append is re-applied
on top and any other write (a MERGE) is refused as ``TableCommitConflict``, and the caller plans
and writes again. Tables are format version 2 (Athena reads no later one), merge-on-read.

``faults`` (operation ``iceberg.publish``) fail a publish, as the other edges' twins do; a
fault's ``when`` may itself commit to the table, as a concurrent writer would.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pyspark.sql import DataFrame, SparkSession

from etl_lib.catalog.table import TableDef
from etl_lib.errors import ConfigError, EtlError, TableCommitConflict
from etl_lib.faults import Faults
from etl_lib.spark_errors import translate_spark_error

EXTENSIONS = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"
GLUE_CATALOG = "lake"
"""The Spark catalog the customer stack configures on Glue (``--conf spark.sql.catalog.lake=…``)."""
GLUE_CATALOG_IMPL = "org.apache.iceberg.aws.glue.GlueCatalog"
LOCAL_NAMESPACE = "analytics_ready"
TABLE_PROPERTIES = {
    "format-version": "2",
    "write.format.default": "parquet",
    "write.parquet.compression-codec": "snappy",
    "write.delete.mode": "merge-on-read",
    "write.update.mode": "merge-on-read",
    "write.merge.mode": "merge-on-read",
    "write.wap.enabled": "true",
}
"""Every table's properties: Athena reads format version 2 (not 3); merge-on-read rewrites no data
file for a changed row (compaction folds the delete files in); staged writes (``write.wap.enabled``)."""

_CONFLICT = re.compile(r"ValidationException|CommitFailedException|CommitStateUnknownException")
_NOT_ICEBERG = re.compile(r"NoSuchIcebergTableException|Not an iceberg table", re.IGNORECASE)
_NOT_FOUND = re.compile(r"TABLE_OR_VIEW_NOT_FOUND|NoSuchTableException|Table or view not found")
_NO_SNAPSHOT = re.compile(r"Cannot find a snapshot|Cannot find snapshot|snapshot .* not found", re.IGNORECASE)
_WAP_LOCK = threading.Lock()  # spark.wap.id is the session's: one staged write at a time per process


def iceberg_runtime(spark: SparkSession) -> bool:
    """True when the session has Iceberg's SQL extensions (they can only be set when it starts)."""
    return EXTENSIONS in (spark.conf.get("spark.sql.extensions", "") or "")


def _sql_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _column(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


@dataclass(frozen=True)
class IcebergTables:
    """Iceberg tables of one lake: create, read (now or as of a snapshot or time), staged
    commits, maintenance. Build one with ``open_iceberg``."""

    spark: SparkSession
    catalog: str
    namespace: str
    table_root: Callable[[str], str]
    """The URI of a table's folder: ``…/analytics-ready/{name}``."""
    glue: bool = False
    """The catalog is Iceberg's Glue catalog (AWS); else a Hadoop catalog under ``_meta/iceberg/``."""
    faults: Faults = field(default_factory=Faults)

    def ident(self, name: str) -> str:
        """The table's SQL identifier."""
        return f"{_column(self.catalog)}.{_column(self.namespace)}.{_column(name)}"

    def path(self, name: str) -> str:
        """``namespace.name``, as Iceberg's procedures take it."""
        return f"{self.namespace}.{name}"

    @contextmanager
    def _errors(self, name: str) -> Iterator[None]:
        try:
            yield
        except EtlError:
            raise
        except Exception as exc:
            if _CONFLICT.search(str(exc)):
                raise TableCommitConflict(f"iceberg table {self.path(name)}: {_first_line(exc)}") from None
            raise translate_spark_error(exc, f"iceberg table {self.path(name)}") from None

    def exists(self, name: str) -> bool:
        """True when the table exists in the catalog."""
        try:
            self.spark.table(self.ident(name)).schema  # noqa: B018 - loads the table
            return True
        except Exception as exc:
            if _NOT_ICEBERG.search(str(exc)):
                raise ConfigError(
                    f"table {self.path(name)} exists in the catalog but is not an Iceberg table (the dataset was "
                    f"Parquet): delete it (aws glue delete-table --database-name {self.namespace} --name {name}) and "
                    "run again; analytics-ready is then built from processed"
                ) from None
            if _NOT_FOUND.search(str(exc)):
                return False
            raise translate_spark_error(exc, f"iceberg table {self.path(name)}") from None

    def create(self, table: TableDef, partition_source: str | None) -> None:
        """Create ``table`` (columns as ``table.schema``: ``year``/``month`` included as plain
        columns when partitioned), partitioned by ``months(partition_source)`` when given."""
        columns = ",\n".join(
            f"  {_column(f.name)} {f.dataType.simpleString()}"
            + (f" COMMENT '{_sql_text(table.comments[f.name])}'" if f.name in table.comments else "")
            for f in table.schema.fields
        )
        properties = dict(TABLE_PROPERTIES)
        where = ""
        if self.glue:
            where = f"LOCATION '{_sql_text(self.table_root(table.name))}'\n"
        else:  # a Hadoop catalog places the metadata itself; the data goes where it goes on AWS
            properties["write.data.path"] = self.table_root(table.name) + "/data"
        listed = ", ".join(f"'{k}'='{_sql_text(v)}'" for k, v in properties.items())
        partitioned = f"PARTITIONED BY (months({_column(partition_source)}))\n" if partition_source else ""
        statement = (
            f"CREATE TABLE IF NOT EXISTS {self.ident(table.name)} (\n{columns}\n) USING iceberg\n"
            f"COMMENT '{_sql_text(table.description)}'\n{partitioned}{where}TBLPROPERTIES ({listed})"
        )
        with self._errors(table.name):
            if not self.glue:
                self.spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {_column(self.catalog)}.{_column(self.namespace)}")
            self.spark.sql(statement)

    def read(self, name: str, as_of: str | None = None) -> DataFrame:
        """The table's rows now, or as of ``as_of``: a snapshot id, or a time (ISO 8601, UTC
        unless it says otherwise): the snapshot current then. (SQL on this session: the
        ``iceberg`` data source would look the catalog up in the active session.)"""
        travel = ""
        if as_of is not None:
            snapshot = as_of.strip()
            travel = (
                f" VERSION AS OF {int(snapshot)}"
                if snapshot.isdigit()
                else f" TIMESTAMP AS OF timestamp_millis({_epoch_ms(snapshot)})"
            )
        try:
            with self._errors(name):
                return self.spark.sql(f"SELECT * FROM {self.ident(name)}{travel}")
        except EtlError as exc:
            if as_of is not None and _NO_SNAPSHOT.search(str(exc)):
                raise ConfigError(f"--as-of {as_of}: table {self.path(name)} has no such snapshot ({exc})") from None
            raise

    def current_snapshot(self, name: str) -> int | None:
        """The id of the table's current snapshot (None: nothing committed yet)."""
        with self._errors(name):
            rows = self.spark.sql(
                f"SELECT snapshot_id FROM {self.ident(name)}.history WHERE is_current_ancestor "
                "ORDER BY made_current_at DESC LIMIT 1"
            ).collect()
        return int(rows[0][0]) if rows else None

    def metadata_location(self, name: str) -> str | None:
        """The table's current metadata file (what a Glue table of type ICEBERG points at)."""
        with self._errors(name):
            rows = self.spark.sql(
                f"SELECT file FROM {self.ident(name)}.metadata_log_entries ORDER BY timestamp DESC LIMIT 1"
            ).collect()
        return str(rows[0][0]) if rows else None

    def added_records(self, name: str, snapshot: int | None) -> int:
        """Rows ``snapshot`` added (its summary's ``added-records``; 0 for None)."""
        if snapshot is None:
            return 0
        with self._errors(name):
            rows = self.spark.sql(
                f"SELECT summary['added-records'] FROM {self.ident(name)}.snapshots WHERE snapshot_id = {int(snapshot)}"
            ).collect()
        return int(rows[0][0] or 0) if rows else 0

    def snapshots(self, name: str) -> list[tuple[int, datetime, str]]:
        """(id, committed at, operation) of the table's snapshots, oldest first (metadata only)."""
        with self._errors(name):
            rows = self.spark.sql(
                f"SELECT snapshot_id, committed_at, operation FROM {self.ident(name)}.snapshots ORDER BY committed_at"
            ).collect()
        return [(int(r[0]), r[1], str(r[2])) for r in rows]

    def partition_digests(self, name: str) -> dict[str, str]:
        """A digest per month (``year=YYYY/month=MM``; ``""`` unpartitioned) of the current data and
        delete files: what a model build compares to decide what changed (metadata only)."""
        with self._errors(name):
            rows = self.spark.sql(
                f"SELECT partition, file_path, file_size_in_bytes FROM {self.ident(name)}.files"
            ).collect()  # one row per live file: metadata, bounded by the file count
        found: dict[str, list[str]] = {}
        for row in rows:
            values = list(row["partition"] or []) if "partition" in row.asDict() else []
            month = values[0] if values else None
            part = "" if month is None else f"year={1970 + month // 12:04d}/month={month % 12 + 1:02d}"
            found.setdefault(part, []).append(f"{row['file_path']}:{row['file_size_in_bytes']}")
        return {p: hashlib.sha256("\n".join(sorted(f)).encode()).hexdigest()[:16] for p, f in found.items()}

    def staged_commit(
        self,
        name: str,
        write: Callable[[], None],
        wap_id: str,
        audit: Callable[[DataFrame], None] | None = None,
    ) -> int | None:
        """Run ``write`` (SQL or a DataFrame write to this table, in this session) as a staged snapshot tagged
        ``wap_id``, then publish it; return the snapshot the table is at afterwards (None: the
        write committed nothing and the table has no snapshot). ``TableCommitConflict``: another
        writer committed meanwhile and the staged write was not published. ``audit`` gets the
        staged snapshot's rows before it is published: raising there publishes nothing."""
        with self._errors(name):
            before = self.current_snapshot(name)
            with _WAP_LOCK:
                self.spark.conf.set("spark.wap.id", wap_id)
                try:
                    write()
                finally:
                    self.spark.conf.unset("spark.wap.id")
            staged = self.spark.sql(
                f"SELECT snapshot_id FROM {self.ident(name)}.snapshots WHERE summary['wap.id'] = '{_sql_text(wap_id)}'"
                " ORDER BY committed_at DESC LIMIT 1"
            ).collect()
            if not staged:
                now = self.current_snapshot(name)
                if now != before:  # published without staging: the write ran in another session
                    raise EtlError(f"iceberg table {self.path(name)}: a write meant to be staged was published at once")
                return now
            if audit is not None:
                audit(self.read(name, str(int(staged[0][0]))))
            self.faults.check("iceberg.publish", name, TableCommitConflict, EtlError)
            published = self.spark.sql(
                f"CALL {_column(self.catalog)}.system.cherrypick_snapshot('{self.path(name)}', {int(staged[0][0])})"
            ).collect()
        return int(published[0]["current_snapshot_id"])

    def rewrite_data_files(self, name: str, target_bytes: int) -> dict[str, int]:
        """Iceberg's compaction: small files (and delete files) rewritten into files near ``target_bytes``."""
        with self._errors(name):
            row = self.spark.sql(
                f"CALL {_column(self.catalog)}.system.rewrite_data_files(table => '{self.path(name)}', "
                f"options => map('target-file-size-bytes', '{int(target_bytes)}', 'min-input-files', '2', "
                "'delete-file-threshold', '1', 'remove-dangling-deletes', 'true'))"
            ).collect()[0]
        return {k: int(v or 0) for k, v in row.asDict().items()}

    def expire_snapshots(self, name: str, older_than_days: int, now: datetime | None = None) -> dict[str, int]:
        """Expire snapshots older than ``older_than_days`` (the current one is always kept) and
        delete the files only they referenced."""
        cutoff = (now or datetime.now(UTC)) - timedelta(days=older_than_days)
        stamp = cutoff.strftime("%Y-%m-%d %H:%M:%S.%f")
        with self._errors(name):
            row = self.spark.sql(
                f"CALL {_column(self.catalog)}.system.expire_snapshots(table => '{self.path(name)}', "
                f"older_than => TIMESTAMP '{stamp}', retain_last => 1)"
            ).collect()[0]
        return {k: int(v or 0) for k, v in row.asDict().items()}


def _first_line(exc: BaseException) -> str:
    for line in str(exc).splitlines():
        if _CONFLICT.search(line):
            return line.strip()[:300]
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__


def _epoch_ms(text: str) -> int:
    """Milliseconds since the epoch of an ISO 8601 time (UTC when it has no offset)."""
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"--as-of {text!r}: expected a snapshot id or an ISO 8601 time, e.g. 2026-11-30T08:00:00Z"
        ) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return int(at.timestamp() * 1000)


def open_iceberg(
    spark: SparkSession, lake_uri: Callable[[str], str], database: str | None = None, faults: Faults | None = None
) -> IcebergTables:
    """The lake's Iceberg tables: in the Glue catalog when the session's ``lake`` catalog is
    Iceberg's Glue catalog (a Glue job of the customer stack; namespace ``database``), else in
    a Hadoop catalog under the lake's ``_meta/iceberg/``. ``lake_uri`` maps a lake key to a URI."""
    if not iceberg_runtime(spark):
        raise ConfigError(
            "table_format iceberg needs Apache Iceberg's Spark runtime and SQL extensions: locally `make` fetches "
            f"the runtime and new sessions load it; on Glue give the job --datalake-formats iceberg and --conf "
            f"spark.sql.extensions={EXTENSIONS} (the customer stack does when a spec uses iceberg)"
        )
    root = lambda name: lake_uri(f"analytics-ready/{name}").rstrip("/")  # noqa: E731
    impl = spark.conf.get(f"spark.sql.catalog.{GLUE_CATALOG}.catalog-impl", "") or ""
    if impl == GLUE_CATALOG_IMPL:
        default = f"spark.sql.catalog.{GLUE_CATALOG}.default-namespace"
        database = database or spark.conf.get(default, None)
        if database and not spark.conf.get(default, None):
            spark.conf.set(default, database)  # what later readers in this session (sinks, models) find
        if not database:
            raise ConfigError("table_format iceberg on Glue needs --catalog_database (the Iceberg tables' namespace)")
        return IcebergTables(spark, GLUE_CATALOG, database, root, glue=True, faults=faults or Faults())
    warehouse = _local_uri(lake_uri("_meta/iceberg"))
    name = "lake_" + hashlib.sha256(warehouse.encode()).hexdigest()[:12]  # one catalog per lake in a session
    settings = {
        f"spark.sql.catalog.{name}": "org.apache.iceberg.spark.SparkCatalog",
        f"spark.sql.catalog.{name}.type": "hadoop",
        f"spark.sql.catalog.{name}.warehouse": warehouse,
        # No table cache: a session must see what another session (or process) committed.
        f"spark.sql.catalog.{name}.cache-enabled": "false",
    }
    for key, value in settings.items():
        if spark.conf.get(key, None) != value:
            spark.conf.set(key, value)
    local_root = lambda n: _local_uri(root(n))  # noqa: E731
    return IcebergTables(spark, name, LOCAL_NAMESPACE, local_root, glue=False, faults=faults or Faults())


def _local_uri(uri: str) -> str:
    """A URI Hadoop resolves the same from anywhere: an absolute local path gets ``file:``."""
    return "file://" + uri if uri.startswith("/") else uri
