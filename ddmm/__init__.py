"""ddmm: a market maker for DeltaDeFi ADAUSDM quoting around the Binance ADAUSDT book."""

__version__ = "0.1.0"
