"""scripts/check_layers.py: the layer order as a test. The real tree keeps it; in a temporary tree
each kind of upward arrow (an include into a higher layer, header-only or relative, a test of a
layer including a higher one, the plugin importing its test kit, the test kit importing the
tests) fails, naming the file, the line and the arrow."""
import pathlib
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHECKER = ROOT / "scripts" / "check_layers.py"
README = "Layout...\n\nLayer order (a layer uses only those below it): util → io →\nserve → cli.\n"


def check(root):
    result = subprocess.run([sys.executable, str(CHECKER), "--root", str(root)],
                            capture_output=True, text=True)
    return result.returncode, result.stdout.splitlines()


def write(root, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


@pytest.fixture
def tree(tmp_path):
    """A tree that keeps the order: each layer includes itself and lower ones; the plugin imports
    itself, the test kit the plugin, tests the test kit."""
    write(tmp_path, {
        "README.md": README,
        "src/util/error.h": "#pragma once\n",
        "src/io/reader.h": '#pragma once\n#include "util/error.h"\n',
        "src/io/reader.cpp": '#include "io/reader.h"\n#include <vector>\n#include "reader.h"\n',
        "src/serve/server.h": '#pragma once\n#include "io/reader.h"\n#include "util/version.h"\n',
        "src/cli/main.cpp": '#include "serve/server.h"\n#include <nlohmann/json.hpp>\n',
        "tests/support/helpers.h": '#include "cli/commands.h"\n',
        "tests/io/reader_test.cpp": '#include "io/reader.h"\n#include "support/helpers.h"\n',
        "tests/oracle/any_test.cpp": '#include "serve/server.h"\n',
        "safrl/__init__.py": "from safrl.client import Client\n",
        "safrl/client.py": "import json\nfrom . import errors\n",
        "safrl/errors.py": "",
        "safrl/testing/__init__.py": "",
        "safrl/testing/ports.py": "import torch\nfrom safrl.client import Client\nfrom . import kit\n",
        "tests/safrl/test_client.py": "from safrl.testing import ports\n",
    })
    return tmp_path


def test_the_tree_keeps_the_layer_order():
    assert check(ROOT) == (0, [])


def test_a_tree_that_keeps_the_order_passes(tree):
    assert check(tree) == (0, [])


def test_an_upward_include_fails_naming_file_line_and_arrow(tree):
    write(tree, {"src/io/reader.cpp": '#include "io/reader.h"\n\n#include "serve/server.h"\n'})
    assert check(tree) == (1, [
        "src/io/reader.cpp:3: io includes serve/server.h: io → serve points up the layer order "
        "util → io → serve → cli"])


def test_a_header_only_upward_include_and_a_relative_one_fail(tree):
    # No library links serve to io here: only the include line shows the arrow.
    write(tree, {"src/util/error.h": '#pragma once\n#include "../io/reader.h"\n',
                 "src/io/reader.h": '#pragma once\n#include <cli/main.cpp>\n'})
    code, lines = check(tree)
    assert code == 1
    assert lines == [
        "src/io/reader.h:2: io includes cli/main.cpp: io → cli points up the layer order "
        "util → io → serve → cli",
        "src/util/error.h:2: util includes ../io/reader.h: util → io points up the layer order "
        "util → io → serve → cli"]


def test_the_order_is_the_readmes(tree):
    # serve below io: src/serve/server.h including io/reader.h now points up.
    write(tree, {"README.md": "Layer order (a layer uses only those below it): util → serve → io "
                              "→ cli.\n"})
    assert check(tree) == (1, [
        "src/serve/server.h:2: serve includes io/reader.h: serve → io points up the layer order "
        "util → serve → io → cli"])


def test_a_test_of_a_layer_may_not_include_a_higher_one(tree):
    write(tree, {"tests/io/reader_test.cpp": '#include "io/reader.h"\n#include "cli/main.cpp"\n'})
    assert check(tree) == (1, [
        "tests/io/reader_test.cpp:2: tests/io includes cli/main.cpp: io → cli points up the layer "
        "order util → io → serve → cli"])


def test_sources_never_include_test_helpers(tree):
    write(tree, {"src/cli/main.cpp": '#include "support/helpers.h"\n'})
    assert check(tree) == (1, [
        "src/cli/main.cpp:1: cli includes support/helpers.h, a test helper (tests/support); the "
        "sources never include tests"])


def test_the_plugin_never_imports_the_test_kit_even_lazily_or_relatively(tree):
    write(tree, {"safrl/client.py": """\
        import json
        from safrl import testing


        def start():
            from .testing.ports import free_port
            import tests.safrl
        """})
    order = "safrl → safrl.testing → tests, experiments"
    assert check(tree) == (1, [
        f"safrl/client.py:2: imports safrl.testing: the plugin (safrl) → safrl.testing points up "
        f"the order {order}",
        f"safrl/client.py:6: imports safrl.testing.ports.free_port: the plugin (safrl) → "
        f"safrl.testing points up the order {order}",
        f"safrl/client.py:7: imports tests.safrl: the plugin (safrl) → tests points up the order "
        f"{order}"])


def test_the_test_kit_never_imports_the_tests_or_experiments(tree):
    write(tree, {"safrl/testing/ports.py": "from safrl import client\nfrom experiments import x\n"})
    assert check(tree) == (1, [
        "safrl/testing/ports.py:2: imports experiments.x: safrl.testing → experiments points up "
        "the order safrl → safrl.testing → tests, experiments"])
