"""Ingest adapters: public file formats in, canonical CHAIN_COLUMNS frames out.

Formats (see docs/ingest-formats.md): NSE option-chain JSON, NSE F&O bhavcopy CSV (UDiFF and
legacy layouts), and a documented generic CSV/Parquet. `read_snapshot_file` is the entry point
for files; the `parse_*` functions take bytes for callers that already hold them. Every
parse-level failure is an `IngestError` with a reason from `IngestReason`; content problems in a
chain that parsed are left to `market.validation`.
"""

from .errors import IngestError, IngestReason
from .files import (
    FORMATS,
    GENERIC_CSV,
    GENERIC_PARQUET,
    NSE_BHAVCOPY,
    NSE_OPTION_CHAIN,
    IngestResult,
    detect_format,
    file_sha256,
    read_snapshot_file,
)
from .generic import parse_generic
from .nse_bhavcopy import parse_nse_bhavcopy
from .nse_option_chain import parse_nse_option_chain

__all__ = [
    "FORMATS",
    "GENERIC_CSV",
    "GENERIC_PARQUET",
    "NSE_BHAVCOPY",
    "NSE_OPTION_CHAIN",
    "IngestError",
    "IngestReason",
    "IngestResult",
    "detect_format",
    "file_sha256",
    "parse_generic",
    "parse_nse_bhavcopy",
    "parse_nse_option_chain",
    "read_snapshot_file",
]
