"""Identity tokens: API-key JWK sets and JWT verification with the seed's messages."""

from tandem.auth.algorithms import SUPPORTED_ALGORITHMS
from tandem.auth.claims import DOCUMENT_CLAIM, ROLE_CLAIM
from tandem.auth.errors import AUTH_MESSAGES, KEY_IMPORT_CODES, AuthError, KeyImportError
from tandem.auth.jwks_fetch import JwksFetchError, check_jwks_url, fetch_jwks
from tandem.auth.key_directory import KeyDirectory, KeySource, StaticKeySource
from tandem.auth.key_import import describe_key, key_bits, parse_public_keys, validate_public_jwk
from tandem.auth.keygen import GeneratedKeyPair, generate_keypair
from tandem.auth.verifier import Identity, TokenVerifier

__all__ = [
    "AUTH_MESSAGES",
    "DOCUMENT_CLAIM",
    "KEY_IMPORT_CODES",
    "ROLE_CLAIM",
    "SUPPORTED_ALGORITHMS",
    "AuthError",
    "GeneratedKeyPair",
    "Identity",
    "JwksFetchError",
    "KeyDirectory",
    "KeyImportError",
    "KeySource",
    "StaticKeySource",
    "TokenVerifier",
    "check_jwks_url",
    "describe_key",
    "fetch_jwks",
    "generate_keypair",
    "key_bits",
    "parse_public_keys",
    "validate_public_jwk",
]
