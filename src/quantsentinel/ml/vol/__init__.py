"""Volatility measurement and forecasting (pure; no dagster).

`realized` builds the daily realized-variance series from raw 1-minute bars, so the project owns
the definition of the series its forecasters are fitted on (see the seed's realized-vol lesson).
"""
