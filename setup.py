"""The repository keeps `service/`, `worker/` and `migrations/` at its top (the
design fixes them); installed, they are `gradatlas.service`, `gradatlas.worker`
and `gradatlas.migrations`, so the wheel's only top-level name is `gradatlas`.
The list is computed so that a new subpackage cannot be left out of the wheel.
Everything else about the distribution is in pyproject.toml."""

from setuptools import find_packages, setup

FOLDERS = ("service", "worker", "migrations")

packages = ["gradatlas"] + [f"gradatlas.{name}" for name in find_packages(include=[f"{f}*" for f in FOLDERS])]
setup(packages=packages, package_dir={"gradatlas": "gradatlas", **{f"gradatlas.{f}": f for f in FOLDERS}})
