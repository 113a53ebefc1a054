"""Tandem: self-hosted, end-to-end-encrypted real-time collaboration for TinyMCE."""

__version__ = "0.1.0"
PROTOCOL_VERSION = 1
