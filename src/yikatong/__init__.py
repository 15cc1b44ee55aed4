"""Yikatong: the platform that issues and runs the Jiangsu (Changzhou) One Card."""

__version__ = "0.1.0"
