"""Metadata a person wants to see on a materialization: small tables and inline plots."""

from __future__ import annotations

import base64
import io

import pandas as pd

import dagster as dg


def table_md(frame: pd.DataFrame, max_rows: int = 20) -> dg.MetadataValue:
    """A Markdown table (rendered by the UI) of the first `max_rows` rows."""
    if frame.empty:
        return dg.MetadataValue.md("_(none)_")
    shown = frame.head(max_rows)
    header = "| " + " | ".join(map(str, shown.columns)) + " |"
    rule = "|" + "---|" * len(shown.columns)
    body = [
        "| " + " | ".join(_cell(v) for v in row) + " |" for row in shown.itertuples(index=False)
    ]
    more = [f"\n_{len(frame) - max_rows} more rows_"] if len(frame) > max_rows else []
    return dg.MetadataValue.md("\n".join([header, rule, *body, *more]))


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value).replace("|", "\\|")


def smile_plot_md(smile: pd.DataFrame, title: str) -> dg.MetadataValue:
    """The nearest expiry's smile (IV against log-moneyness) as an inline PNG."""
    if smile.empty or smile["iv"].notna().sum() < 2:
        return dg.MetadataValue.md("_no solvable quotes for a smile_")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=90)
    ordered = smile.sort_values("k")
    ax.plot(ordered["k"], 100 * ordered["iv"], marker="o", markersize=3, linewidth=1.2)
    ax.axvline(0.0, color="grey", linewidth=0.6, linestyle="--")
    ax.set_xlabel("log-moneyness ln(K/F)")
    ax.set_ylabel("implied vol (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    return figure_md(fig, "smile")


def figure_md(fig, alt: str) -> dg.MetadataValue:
    """Any matplotlib figure as an inline PNG in Markdown metadata (the figure is closed)."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{encoded})")
