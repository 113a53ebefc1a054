"""The Python client SDK: speaks Tandem's protocol, holds the document as a pycrdt Doc."""

from tandem.client.document_client import DocumentClient, websocket_url
from tandem.client.errors import ClientError, DisconnectedError
from tandem.client.providers import keyring_provider

__all__ = [
    "ClientError",
    "DisconnectedError",
    "DocumentClient",
    "keyring_provider",
    "websocket_url",
]
