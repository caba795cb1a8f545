"""Quantsentinel: ML and risk behind NSE index-options decisions."""
