"""Second-generation resident ID card readers (GA/T 467 SAM protocol over a serial port)."""

from .errors import (
    CardAuthFailed,
    CardNotFound,
    CardReadFailed,
    CardSelectFailed,
    CnIdReadError,
    InvalidCardData,
    ReaderFault,
    ReaderFrameError,
    ReaderTimeout,
    SamFault,
    WrongCardType,
)
from .reader import CnIdReader
from .wlt import WltDecoder, WltDecoderError, load_wlt_decoder

__all__ = [
    "CardAuthFailed",
    "CardNotFound",
    "CardReadFailed",
    "CardSelectFailed",
    "CnIdReadError",
    "CnIdReader",
    "InvalidCardData",
    "ReaderFault",
    "ReaderFrameError",
    "ReaderTimeout",
    "SamFault",
    "WltDecoder",
    "WltDecoderError",
    "WrongCardType",
    "load_wlt_decoder",
]
