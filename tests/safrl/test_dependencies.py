"""The plugin installs into a trainer's environment with only pyzmq and msgpack (pyproject.toml):
importing it, every adapter and safrl.ray (which imports ray only when used) loads no other
installed distribution, and not safrl.testing, which needs torch and transformers."""
import importlib.metadata
import json
import pathlib
import shutil
import subprocess
import sys

import safrl

IMPORT_ALL = """
import json, sys
before = set(sys.modules)
import safrl, safrl.verl, safrl.trl, safrl.openrlhf, safrl.ray
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_importing_the_plugin_loads_only_pyzmq_and_msgpack():
    # A fresh interpreter, in the folder that holds this safrl, so that it imports the same one.
    root = pathlib.Path(safrl.__file__).resolve().parents[1]
    loaded = json.loads(subprocess.run([sys.executable, "-c", IMPORT_ALL], cwd=root, check=True,
                                       capture_output=True, text=True).stdout)
    owners = importlib.metadata.packages_distributions()
    distributions = {d for name in loaded for d in owners.get(name.split(".")[0], [])}
    assert distributions - {"safrl"} == {"pyzmq", "msgpack"}, distributions
    assert "safrl" in loaded and not [n for n in loaded if n.startswith("safrl.testing")]


def test_the_distribution_carries_the_plugin_without_its_test_kit(tmp_path):
    """pyproject.toml's packages: what `pip install .` puts into a trainer's environment is
    safrl/*.py; safrl.testing (torch, transformers) stays in the clone. Built from a copy, since
    setuptools writes its egg-info beside the sources."""
    root = pathlib.Path(safrl.__file__).resolve().parents[1]
    source = tmp_path / "source"
    shutil.copytree(root / "safrl", source / "safrl",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (source / "docs").mkdir()
    shutil.copy(root / "docs" / "plugin.md", source / "docs" / "plugin.md")
    shutil.copy(root / "pyproject.toml", source / "pyproject.toml")
    subprocess.run([sys.executable, "-c", "import setuptools; setuptools.setup()", "-q",
                    "build_py", "-d", str(tmp_path / "built")], cwd=source, check=True,
                   capture_output=True)
    built = sorted(p.relative_to(tmp_path / "built").as_posix()
                   for p in (tmp_path / "built").rglob("*.py"))
    assert built == sorted(p.relative_to(root).as_posix() for p in (root / "safrl").glob("*.py"))
