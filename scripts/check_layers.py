#!/usr/bin/env python3
"""Fails on an upward arrow between layers: an #include or a Python import that reaches a higher
layer than the file's own. The C++ link order alone lets a header-only upward include through,
so this reads the sources themselves (CTest runs it: tests/CMakeLists.txt, layer_order).

The layer order is read from README.md, the one place it is written: the line
"Layer order (...): util → io → ... → cli." Each layer may use itself and those before it.

C++ (every `#include "..."` line, and `#include <...>` lines that name a file of this tree):
  src/<layer>/ and reward/ (the reward layer) include only their own layer and lower ones;
  tests/<layer>/ tests a layer: it includes that layer, lower ones, tests/support and its own
  folder; tests/support and the other test folders, fuzz/ and experiments/ sit on top of
  everything and are not checked.
Python (every import of every module, also those inside functions, relative ones resolved):
  the plugin (safrl/ without safrl/testing) never imports safrl.testing, tests or experiments:
  a trainer's environment has the plugin alone, and `import safrl` never needs torch;
  safrl.testing (the test kit: tiny checkpoints, live servers) may import the plugin and its own
  modules, never tests or experiments, which use it.

Usage: check_layers.py [--root DIR]   (default: the clone this script is in). Prints one line per
upward arrow, FILE:LINE: what it reaches and why that is upward, and exits 1 if there is any.
"""
import argparse
import ast
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
LAYER_LINE = re.compile(r"Layer order \([^)]*\):\s*(.+?)\.(?:\s|$)", re.S)
CXX_SUFFIXES = (".h", ".hpp", ".cpp", ".cc")
# Python packages above the plugin and the test kit: a module of either never imports them.
PYTHON_ABOVE_ALL = ("tests", "experiments")
TEST_KIT = "safrl.testing"


def layer_order(root):
    """The layers, lowest first, from README.md's "Layer order (...): a → b → c." line."""
    path = os.path.join(root, "README.md")
    with open(path, encoding="utf-8") as f:
        match = LAYER_LINE.search(f.read())
    if not match:
        sys.exit(f"{path}: no 'Layer order (...): util → io → ...' line to read the layers from")
    return [name.strip() for name in match.group(1).split("→")]


def source_layer(relative, layers):
    """The layer a file of the tree belongs to: ("src", layer) for src/<layer>/ and reward/,
    ("tests", layer) for tests/<layer>/, ("support", None) for tests/support, else None."""
    parts = relative.split("/")
    if parts[0] == "src" and len(parts) > 2 and parts[1] in layers:
        return ("src", parts[1])
    if parts[0] in layers and parts[0] not in ("src", "tests") and len(parts) > 1:
        return ("src", parts[0])  # a layer at the top of the tree: reward/
    if parts[0] == "tests" and len(parts) > 2:
        if parts[1] == "support":
            return ("support", None)
        if parts[1] in layers:
            return ("tests", parts[1])
    return None


def resolve_include(root, including, name, bracket, layers):
    """The tree-relative path or layer an include names: (relative path or None, layer or None).
    Searched like the build's include path: beside the including file, src/, the tree's root,
    tests/; a path whose first folder is a layer but is not in the tree (a generated header such
    as util/version.h) belongs to that layer."""
    candidates = [] if bracket == "<" else [os.path.join(os.path.dirname(including), name)]
    candidates += [os.path.join("src", name), name, os.path.join("tests", name)]
    for candidate in candidates:
        relative = os.path.normpath(candidate).replace(os.sep, "/")
        if not relative.startswith("../") and os.path.isfile(os.path.join(root, relative)):
            return relative, source_layer(relative, layers)
    first = name.split("/")[0]
    if bracket == '"' and first in layers and "/" in name:
        return None, ("src", first)
    return None, None


def cxx_files(root):
    for top in ("src", "reward", "tests"):
        for folder, _, names in os.walk(os.path.join(root, top)):
            for name in sorted(names):
                if name.endswith(CXX_SUFFIXES):
                    yield os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/")


def check_includes(root, layers):
    rank = {layer: i for i, layer in enumerate(layers)}
    order = " → ".join(layers)
    problems = []
    for relative in sorted(cxx_files(root)):
        owner = source_layer(relative, layers)
        if owner is None or owner[0] == "support":
            continue
        kind, layer = owner
        with open(os.path.join(root, relative), encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
        for number, line in enumerate(lines, 1):
            match = INCLUDE.match(line)
            if not match:
                continue
            bracket, name = match.groups()
            target_path, target = resolve_include(root, relative, name, bracket, layers)
            if target is None:
                continue
            where = f"{relative}:{number}"
            if target[0] == "support":
                if kind == "src":
                    problems.append(f"{where}: {layer} includes {name}, a test helper "
                                    "(tests/support); the sources never include tests")
                continue
            if target[0] == "tests":
                if kind == "src" or target[1] != layer:
                    problems.append(f"{where}: {relative.split('/')[0]}/{layer} includes "
                                    f"{target_path}, a test of another layer; include the "
                                    "sources or tests/support instead")
                continue
            if rank[target[1]] > rank[layer]:
                who = f"tests/{layer}" if kind == "tests" else layer
                problems.append(f"{where}: {who} includes {name}: {layer} → {target[1]} points "
                                f"up the layer order {order}")
    return problems


def module_name(relative):
    """safrl/testing/ports.py -> safrl.testing.ports; safrl/__init__.py -> safrl."""
    parts = relative[:-len(".py")].split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(tree, module, is_package):
    """(line, module name) of every import in a module, relative ones made absolute."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from safrl import testing` imports safrl.testing: name each imported module.
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}" if alias.name != "*" else base


def within(name, package):
    return name == package or name.startswith(package + ".")


def check_imports(root):
    problems = []
    top = os.path.join(root, "safrl")
    for folder, _, names in os.walk(top):
        for file_name in sorted(names):
            if not file_name.endswith(".py"):
                continue
            relative = os.path.relpath(os.path.join(folder, file_name), root).replace(os.sep, "/")
            module = module_name(relative)
            in_kit = within(module, TEST_KIT)
            with open(os.path.join(root, relative), encoding="utf-8") as f:
                tree = ast.parse(f.read(), relative)
            for number, name in imported_modules(tree, module, file_name == "__init__.py"):
                above = [p for p in PYTHON_ABOVE_ALL if within(name, p)]
                if not in_kit and within(name, TEST_KIT):
                    above = [TEST_KIT]
                if above:
                    who = TEST_KIT if in_kit else "the plugin (safrl)"
                    problems.append(f"{relative}:{number}: imports {name}: {who} → {above[0]} "
                                    f"points up the order safrl → {TEST_KIT} → tests, experiments")
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--root", default=default_root, help="the tree to check")
    root = parser.parse_args(argv).root
    layers = layer_order(root)
    problems = check_includes(root, layers) + check_imports(root)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} upward arrow(s); the layer order is {' → '.join(layers)} "
              "(README.md)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
