"""Reading contract YAML as a node tree, so every error names the file, the line and the field
(PyYAML's node marks): :class:`YamlReader` and the :class:`ContractError` it raises."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class ContractError(ValueError):
    """A contract file that cannot be used; the message names file, line and field."""

    def __init__(self, path: Path | str, line: int, field_path: str, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.field_path = field_path
        super().__init__(f"{path}:{line}: {field_path}: {message}")


class YamlReader:
    """Walks a composed YAML node tree, converting values and reporting errors with line numbers."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._loader = yaml.SafeLoader("")

    def fail(self, node: yaml.Node, where: str, message: str) -> ContractError:
        return ContractError(self.path, node.start_mark.line + 1, where, message)

    def mapping(self, node: yaml.Node, where: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, where, "expected a mapping")
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key, value in node.value:
            name = self.scalar(key, where)
            if not isinstance(name, str):
                raise self.fail(key, where, f"keys must be text, got {name!r}")
            if name in out:
                raise self.fail(key, f"{where}.{name}", "duplicate key")
            out[name] = (key, value)
        return out

    def sequence(self, node: yaml.Node, where: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, where, "expected a list")
        return list(node.value)

    def scalar(self, node: yaml.Node, where: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, where, "expected a single value")
        return self._loader.construct_object(node, deep=True)

    def value(self, node: yaml.Node) -> Any:
        return self._loader.construct_object(node, deep=True)

    def text(self, node: yaml.Node, where: str, choices: tuple[str, ...] | None = None) -> str:
        value = self.scalar(node, where)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(node, where, f"expected non-empty text, got {value!r}")
        if choices is not None and value not in choices:
            raise self.fail(node, where, f"{value!r} is not one of {', '.join(choices)}")
        return value

    def texts(self, node: yaml.Node, where: str) -> tuple[str, ...]:
        if isinstance(node, yaml.ScalarNode):
            return (self.text(node, where),)
        return tuple(
            self.text(n, f"{where}[{i}]") for i, n in enumerate(self.sequence(node, where))
        )
