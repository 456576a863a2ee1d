"""Build glue pyproject.toml cannot say: the top-level playbooks/, templates/ and agent ship inside paasops."""

from setuptools import find_packages, setup

# The repository keeps these folders at the top (the design card's layout); the wheel carries
# them as paasops/playbooks, paasops/templates and paasops/bin so bootstrap works from any install.
# bin/ ships only the host agent: bootstrap.yml copies ../bin/paasops-register from its own folder.
DATA_PACKAGES = {"paasops.playbooks": "playbooks", "paasops.templates": "templates", "paasops.bin": "bin"}

setup(packages=find_packages(include=["paasops", "paasops.*"]) + list(DATA_PACKAGES),
      package_dir=DATA_PACKAGES)
