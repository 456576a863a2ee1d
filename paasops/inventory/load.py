"""Reading inventories: text, a file, or a directory of them with group_vars/ and host_vars/."""

from __future__ import annotations

import os
import re
from pathlib import Path

from paasops.errors import InventoryError

from .builder import Builder
from .ini import parse_ini_into
from .model import Inventory
from .yaml_format import compose, parse_yaml_into

YAML_EXTS = (".yml", ".yaml", ".json")
# What Ansible skips in an inventory directory (INVENTORY_IGNORE_EXTS).
IGNORED_EXTS = (".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg",
                ".retry")


def _looks_like_yaml(text: str, source: str) -> bool:
    ext = os.path.splitext(source)[1].lower()
    if ext in YAML_EXTS + (".ini",):
        return ext != ".ini"
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";")):
            return line.startswith(("---", "{")) or bool(re.match(r"^[^\s=\[]+:\s*(#.*)?$", line))
    return False


def _parse_into(b: Builder, text: str, source: str, fmt: str | None = None) -> None:
    is_yaml = _looks_like_yaml(text, source) if fmt is None else fmt == "yaml"
    (parse_yaml_into if is_yaml else parse_ini_into)(b, text, source)


def parse_inventory(text: str, source: str = "<inventory>", base_dir: str | None = None, *,
                    fmt: str | None = None) -> Inventory:
    """Parse an inventory; `fmt` is "ini" or "yaml", else chosen by `source`'s extension or the text.

    Errors name `source:LINE` (and, for YAML, the key path). Relative key files resolve
    against `base_dir`.
    """
    b = Builder()
    _parse_into(b, text, source, fmt)
    return b.build(source, base_dir)


def parse_ini(text: str, source: str = "<inventory>", base_dir: str | None = None) -> Inventory:
    return parse_inventory(text, source, base_dir, fmt="ini")


def parse_yaml(text: str, source: str = "<inventory>", base_dir: str | None = None) -> Inventory:
    return parse_inventory(text, source, base_dir, fmt="yaml")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError(f"cannot read: {exc}", where=str(path)) from None


def _load_vars_dir(directory: Path, names, into: dict[str, dict]) -> None:
    """group_vars/NAME[.yml|.yaml|.json], or every YAML file under group_vars/NAME/."""
    for name in names:
        for candidate in [directory / name] + [directory / (name + ext) for ext in YAML_EXTS]:
            files = [candidate] if candidate.is_file() else sorted(
                p for p in candidate.rglob("*") if p.is_file() and not p.name.startswith(".")
                and p.suffix in YAML_EXTS + ("",)) if candidate.is_dir() else []
            for path in files:
                root, loader = compose(_read(path), str(path))
                data = loader.construct_document(root) if root is not None else None
                if not isinstance(data, dict | None):
                    raise InventoryError(f"expected a mapping of variables, got {type(data).__name__}",
                                         where=str(path))
                into.setdefault(name, {}).update(data or {})


def load_inventory(path: str | os.PathLike | None, *, missing_ok: bool = False) -> Inventory:
    """Read an inventory file, or a directory of them, with its group_vars/ and host_vars/.

    None gives an empty inventory, in which every pattern is taken as an address; so does a
    path that does not exist when `missing_ok`, else that is an InventoryError.
    """
    if path is None:
        return Inventory()
    path = Path(path).expanduser()
    if not path.exists():
        if missing_ok:
            return Inventory(source=str(path))
        raise InventoryError("no such inventory file or directory", where=str(path))
    base = path if path.is_dir() else path.parent
    files = [path] if path.is_file() else [
        f for f in sorted(path.iterdir())
        if f.is_file() and not f.name.startswith(".") and not f.name.endswith(IGNORED_EXTS)]
    b = Builder()
    for file in files:
        text = _read(file)
        if text.startswith("#!"):
            raise InventoryError("dynamic inventory scripts are not supported", where=str(file))
        _parse_into(b, text, str(file))
    _load_vars_dir(base / "group_vars", list(b.groups), b.file_group_vars)
    _load_vars_dir(base / "host_vars", list(b.host_vars), b.file_host_vars)
    return b.build(str(path), str(base.resolve()))
