"""examples/php: no PHP on the test machines, so it is only checked for syntax (``php -l``)
where PHP is installed (or TANDEM_TEST_PHP names a php binary); examples/php/README.md
says it is untested. Its JSON files must parse everywhere."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from tests.examples.harness import EXAMPLES


def test_php_example_syntax():
    php = os.environ.get("TANDEM_TEST_PHP") or shutil.which("php")
    if php is None:
        pytest.skip("PHP is not installed: examples/php is untested here (its README says so)")
    result = subprocess.run(
        [php, "-n", "-l", str(EXAMPLES / "php" / "jwt.php")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No syntax errors detected" in result.stdout


def test_php_example_requires_php_jwt():
    composer = json.loads((EXAMPLES / "php" / "composer.json").read_text())
    assert set(composer["require"]) == {"php", "firebase/php-jwt"}
    source = (EXAMPLES / "php" / "jwt.php").read_text()
    assert "use Firebase\\JWT\\JWT;" in source and "JWT::encode(" in source
