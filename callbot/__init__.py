"""callbot: a caller-screening SIP bot for small offices."""

__version__ = "0.1.0"
