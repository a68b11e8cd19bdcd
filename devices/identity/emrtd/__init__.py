"""ICAO 9303 eMRTD (passport chip) reading over PC/SC, and a virtual eMRTD for tests."""

from .errors import (
    AccessDenied,
    CardRemoved,
    CorruptData,
    ReaderFault,
    SecureMessagingError,
    TlvError,
    UnsupportedDocument,
)
from .mrz import MrzError, MrzKey
from .reader import EmrtdReader

__all__ = [
    "AccessDenied",
    "CardRemoved",
    "CorruptData",
    "EmrtdReader",
    "MrzError",
    "MrzKey",
    "ReaderFault",
    "SecureMessagingError",
    "TlvError",
    "UnsupportedDocument",
]
