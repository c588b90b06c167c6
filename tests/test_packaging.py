"""What ships: the wheel's packages and the image hold the product only; the demo runs from a checkout."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from fnmatch import fnmatchcase
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
DEMO_NAMES = re.compile(r"demo|emulator|playground|localca|moto")


def find_packages(where: Path, include: list[str]) -> list[str]:
    """What setuptools' packages.find gives for these patterns: every package (a folder with __init__.py)
    under ``where`` whose dotted name matches one of them."""
    found = []
    for init in where.rglob("__init__.py"):
        name = ".".join(init.parent.relative_to(where).parts)
        whole = all((where / Path(*name.split(".")[:i]) / "__init__.py").is_file() for i in range(1, name.count(".") + 2))
        if whole and any(fnmatchcase(name, pattern) for pattern in include):
            found.append(name)
    return sorted(found)


def _env_without_demo_on_path() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["COLUMNS"] = "200"
    return env


def test_the_wheel_holds_the_layers_and_no_demo_or_emulator_code() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = find_packages(ROOT, config["include"])
    assert {"oidc_publisher", "oidc_publisher.core", "oidc_publisher.aws", "oidc_publisher.commands", "oidc_publisher.cli"} <= set(packages)
    assert all(name.startswith("oidc_publisher") and name.split(".")[0] == "oidc_publisher" for name in packages), packages
    shipped = [p for pkg in packages for p in (ROOT / pkg.replace(".", "/")).glob("*.py")]
    # commands/demo.py only finds the demo in a checkout; it holds none of it.
    offenders = [str(p.relative_to(ROOT)) for p in shipped if DEMO_NAMES.search(p.stem) and p.name != "demo.py"]
    assert offenders == []
    for path in shipped:
        text = path.read_text()
        assert not re.search(r"^\s*(from|import) (moto|oidc_publisher_demo)\b", text, re.M), path


def test_the_image_copies_only_the_product() -> None:
    copies = re.findall(r"^COPY (?!--from)(.+)$", (ROOT / "Dockerfile").read_text(), re.M)
    sources = {src for line in copies for src in line.split()[:-1]}
    assert "oidc_publisher" in sources
    assert not any("demo" in src for src in sources), sources


def test_help_imports_no_heavy_library_and_no_demo() -> None:
    code = (
        "import sys\n"
        "from oidc_publisher.cli import main\n"
        "sys.argv = ['oidc-publisher', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & {'boto3', 'botocore', 'kubernetes', 'moto', 'oidc_publisher_demo'})\n"
        "print('LOADED=' + ','.join(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=_env_without_demo_on_path())
    assert "LOADED=\n" in out.stdout, out.stdout[-300:]


def test_demo_is_found_in_the_checkout_without_being_on_the_path() -> None:
    code = (
        "import sys\n"
        "assert not any(p.endswith('/demo') for p in sys.path), sys.path\n"
        "from oidc_publisher.commands.demo import demo_module\n"
        "module = demo_module('emulator')\n"
        "print(module.__name__, module.__file__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=_env_without_demo_on_path(), cwd="/")
    name, where = out.stdout.split()
    assert name == "oidc_publisher_demo.emulator"
    assert Path(where) == ROOT / "demo" / "oidc_publisher_demo" / "emulator.py"


def test_demo_outside_a_checkout_says_where_it_lives(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "import oidc_publisher.commands.demo as finder\n"
        f"finder.checkout_demo_dir = lambda: Path({str(tmp_path)!r})\n"
        "from oidc_publisher.cli import main\n"
        "sys.argv = ['oidc-publisher', 'demo']\n"
        "main()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env_without_demo_on_path(), cwd="/")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert "the demo is not part of an installed oidc-publisher (it ships only with the source)" in lines[0]
    assert "pip install -e '.[demo]'" in out.stderr
