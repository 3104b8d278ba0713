"""The plugin installs into a trainer's environment with only pyzmq and msgpack (pyproject.toml):
importing it, every adapter and safrl.ray (which imports ray only when used) loads no other
installed distribution, and not safrl.testing, which needs torch and transformers."""
import importlib.metadata
import json
import pathlib
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
