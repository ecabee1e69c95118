"""Build hook: the generated protobuf package ``aitbc.pb`` is made when the package is built.

Everything else is declared in pyproject.toml. The repository keeps the design's
top-level folders (abci_app/, coordinator/, miner/, cli/, explorer/, ops/, gateway/); they
are installed as subpackages of the one namespace ``aitbc``, so nothing with a
generic name (``cli``, ``miner``) lands at the top of site-packages.
"""

import importlib.util
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
FOLDERS = {"aitbc": "aitbc", "aitbc.abci_app": "abci_app", "aitbc.coordinator": "coordinator",
           "aitbc.miner": "miner", "aitbc.cli": "cli", "aitbc.explorer": "explorer", "aitbc.ops": "ops",
           "aitbc.gateway": "gateway"}


def _packages() -> list[str]:
    """Every folder with an ``__init__.py`` below the mapped roots, as dotted names (generated aitbc.pb aside)."""
    found = []
    for name, folder in FOLDERS.items():
        for init in sorted((ROOT / folder).rglob("__init__.py")):
            rel = init.parent.relative_to(ROOT / folder)
            if name == "aitbc" and rel.parts[:1] == ("pb",):
                continue
            found.append(".".join((name, *rel.parts)))
    return found


def _generator():
    spec = importlib.util.spec_from_file_location("aitbc_proto_build", ROOT / "proto" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildPyWithProtos(build_py):
    """Generate aitbc.pb into the build (or, for an editable install, into aitbc/pb)."""

    def run(self):
        if not self.editable_mode:
            # build/lib outlives a build: without this, a module moved or deleted since the last
            # build would still ship in the next wheel.
            shutil.rmtree(Path(self.build_lib) / "aitbc", ignore_errors=True)
        super().run()
        # A wheel takes everything in build_lib, so the generated modules need no package entry.
        target = ROOT / "aitbc" / "pb" if self.editable_mode else Path(self.build_lib) / "aitbc" / "pb"
        _generator().generate(target)


setup(
    package_dir=FOLDERS,
    packages=_packages(),
    cmdclass={"build_py": BuildPyWithProtos},
)
