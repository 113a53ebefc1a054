"""Auth benchmarks: token verifications per second (warm key cache) and CLI start-up time.

.venv/bin/python bench/bench_auth.py [--seconds 2] [--runs 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import bench_env

bench_env.ensure()

from joserfc import jwt
from joserfc.jwk import import_key

from tandem.auth import StaticKeySource, TokenVerifier, generate_keypair

TANDEM = str(Path(sys.executable).with_name("tandem"))
KTY = {"RS256": "RSA", "PS256": "RSA", "ES256": "EC", "EdDSA": "OKP"}


warnings.filterwarnings("ignore", "EdDSA is deprecated")  # joserfc, signing side only


def make_token(alg: str) -> tuple[str, dict]:
    pair = generate_keypair(alg)
    key = import_key(pair.private_pem, KTY[alg])
    claims = {"sub": "bench", "exp": int(time.time()) + 3600}
    token = jwt.encode({"alg": alg, "kid": pair.public_jwk["kid"]}, claims, key, algorithms=[alg])
    return token, pair.public_jwk


async def verifications_per_second(alg: str, seconds: float) -> float:
    token, jwk = make_token(alg)
    verifier = TokenVerifier(StaticKeySource({"ak": [jwk]}))
    await verifier.verify("ak", token)  # warm the key cache
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(100):
            await verifier.verify("ak", token)
        count += 100
    return count / elapsed


def median_wall(argv: list[str], runs: int, env: dict[str, str]) -> tuple[float, int]:
    times, code = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        code = subprocess.run(argv, capture_output=True, env=env).returncode
        times.append(time.perf_counter() - start)
    return statistics.median(times), code


def cli_startup(runs: int) -> list[tuple[str, float, int]]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    with tempfile.TemporaryDirectory() as tmp:
        data = ["--data-dir", tmp]
        created = subprocess.run(
            [TANDEM, *data, "apikey", "create", "--name", "bench"],
            capture_output=True, text=True, check=True, env=env,
        )  # fmt: skip
        api_key = created.stdout.strip().splitlines()[-1]
        token, jwk = make_token("ES256")
        key_file = Path(tmp) / "key.json"
        key_file.write_text(json.dumps(jwk))
        subprocess.run(
            [TANDEM, *data, "keys", "add", f"--api-key={api_key}", str(key_file)],
            capture_output=True, check=True, env=env,
        )  # fmt: skip
        rows = []
        check = [TANDEM, *data, "token", "check", f"--api-key={api_key}"]
        for label, argv, expected in (
            ("tandem --help", [TANDEM, "--help"], 0),
            ("tandem token check (valid)", [*check, token], 0),
            ("tandem token check (bad)", [*check, "x.y"], 1),
        ):
            wall, code = median_wall(argv, runs, env)
            if code != expected:
                raise SystemExit(f"{label}: exit {code}, expected {expected}")
            rows.append((label, wall, code))
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0, help="per algorithm")
    parser.add_argument("--runs", type=int, default=7, help="CLI runs (median)")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]} on {sys.platform}, {os.cpu_count()} CPUs")
    print(f"\n{'verification (warm key cache)':<34} {'per second':>12} {'µs each':>9}")
    for alg in ("RS256", "PS256", "ES256", "EdDSA"):
        rate = asyncio.run(verifications_per_second(alg, args.seconds))
        print(f"{alg:<34} {rate:>12,.0f} {1e6 / rate:>9.1f}")
    print(f"\n{'CLI start-up (median of ' + str(args.runs) + ')':<34} {'wall ms':>12} {'exit':>9}")
    for label, wall, code in cli_startup(args.runs):
        print(f"{label:<34} {wall * 1000:>12.0f} {code:>9}")


if __name__ == "__main__":
    main()
