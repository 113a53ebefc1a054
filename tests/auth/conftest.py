from __future__ import annotations

import pytest

from tandem.auth import StaticKeySource, TokenVerifier
from tests.auth.signing import ALGORITHMS, make_keypair
from tests.auth.tokens import API_KEY, NOW


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def source() -> StaticKeySource:
    return StaticKeySource({API_KEY: [make_keypair(alg)[1] for alg in ALGORITHMS]})


@pytest.fixture
def verifier(source, clock) -> TokenVerifier:
    return TokenVerifier(source, clock=clock)
