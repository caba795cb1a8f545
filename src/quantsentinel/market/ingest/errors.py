"""Parse-level failure vocabulary for the ingest adapters.

An ingest failure means "we could not turn these bytes into a chain at all"; content problems in a
chain that did parse (crossed quotes, arbitrage, staleness) belong to `market.validation`. Keeping
the two vocabularies apart lets the quarantine record say which stage rejected a file.
"""

from __future__ import annotations

from pathlib import Path


class IngestReason:
    """Every `IngestError.reason` is one of these names; they land verbatim in the audit log."""

    FILE_TOO_LARGE = "file_too_large"
    EMPTY_FILE = "empty_file"
    NOT_UTF8 = "not_utf8"
    TRUNCATED_JSON = "truncated_json"
    INVALID_JSON = "invalid_json"
    MALFORMED_CSV = "malformed_csv"  # rows that do not tokenize (wrong field count, bad quoting)
    INVALID_PARQUET = "invalid_parquet"  # PAR1 magic present but the footer/pages do not read
    WRONG_COLUMNS = "wrong_columns"
    UNKNOWN_FORMAT = "unknown_format"
    BAD_VALUE = "bad_value"
    BAD_TIMESTAMP = "bad_timestamp"
    EMPTY_CHAIN = "empty_chain"
    MISSING_FIELD = "missing_field"

    @classmethod
    def all(cls) -> tuple[str, ...]:
        """Every reason name, for tests and for documenting the audit vocabulary."""
        return tuple(v for k, v in vars(cls).items() if k.isupper() and isinstance(v, str))


class IngestError(ValueError):
    """A file (or payload) that cannot be parsed into the canonical chain shape.

    `detail` is written for a human reading the quarantine table: it names the file when known and
    the field, column or line at fault, so nobody has to re-run the parser to find the problem.
    """

    def __init__(self, reason: str, detail: str, path: Path | None = None) -> None:
        if reason not in IngestReason.all():
            # A typo here would silently create a reason nobody filters on.
            raise ValueError(f"unknown ingest reason {reason!r}")
        self.reason = reason
        self.detail = detail
        self.path = path
        super().__init__(f"{reason}: {detail}")

    def with_path(self, path: Path) -> IngestError:
        """This error attributed to `path`: parsers see bytes, only the reader knows the name."""
        if self.path is not None:
            return self
        return IngestError(self.reason, f"{path}: {self.detail}", Path(path))

    def __reduce__(self):
        # Exceptions pickle as cls(*args); ours takes different arguments than it stores in args,
        # and Dagster ships errors across process boundaries.
        return (IngestError, (self.reason, self.detail, self.path))
