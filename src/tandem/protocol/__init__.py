"""The wire protocol (docs/protocol.md) as pure functions: parse, validate, encode."""

from tandem.protocol.errors import CLOSE_CODES, ProtocolError
from tandem.protocol.messages import PROTOCOL_VERSION, encode, parse_client_message

__all__ = ["CLOSE_CODES", "PROTOCOL_VERSION", "ProtocolError", "encode", "parse_client_message"]
