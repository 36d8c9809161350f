"""The HTML report of a lake: runs, files, rejected rows by rule, expectations and trends."""

from etl_lib.report.publish import REPORT_PREFIX, report_after_run, write_report

__all__ = ["REPORT_PREFIX", "report_after_run", "write_report"]
