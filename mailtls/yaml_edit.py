"""One value of a YAML file replaced in its text: every other byte (comments, order, quotes,
indentation) stays as the user wrote it. Positions come from ruamel.yaml's composer."""

from __future__ import annotations

import io
from typing import Any


def set_in_text(text: str, section: str, leaf: str, value: Any) -> str | None:
    """`text` with `section.leaf` (or top-level `leaf` when `section` is empty) set to
    `value`; None when the layout is one this splice does not handle (the caller then
    rewrites the whole document)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.nodes import MappingNode

    root = YAML(typ="rt").compose(text)
    if root is None:
        return _append(text, section, leaf, value)
    if not isinstance(root, MappingNode):
        return None
    holder = root
    if section:
        node = _value_of(root, section)
        if node is None:
            return _append(text, section, leaf, value)
        if not isinstance(node, MappingNode) or not node.value:
            return None
        holder = node
    target = _entry(holder, leaf)
    if target is None:
        return _add_to(text, holder, leaf, value) if section else _append(text, "", leaf, value)
    return _replace(text, target[0], target[1], value)


def _entry(mapping: Any, key: str) -> tuple[Any, Any] | None:
    for key_node, value_node in mapping.value:
        if key_node.value == key:
            return key_node, value_node
    return None


def _value_of(mapping: Any, key: str) -> Any:
    found = _entry(mapping, key)
    return found[1] if found else None


def _replace(text: str, key: Any, node: Any, value: Any) -> str | None:
    from ruamel.yaml.nodes import ScalarNode, SequenceNode

    start, end = node.start_mark.index, node.end_mark.index
    if isinstance(node, ScalarNode) and start == end:  # `key:` with nothing: after the colon
        colon = text.index(":", key.end_mark.index) + 1
        new = " " + flow(value)
        spaces = len(text[colon:]) - len(text[colon:].lstrip(" "))
        eaten = min(spaces - 1, len(new)) if text[colon + spaces : colon + spaces + 1] == "#" else 0
        return text[:colon] + new + text[colon + max(eaten, 0) :]
    if isinstance(node, SequenceNode) and not node.flow_style:
        if not isinstance(value, list) or not value or not node.value:
            return None  # a block list made empty or scalar: the whole document is redone
        return text[:start] + _block_items(text, node, value) + text[end:]
    if isinstance(node, ScalarNode) or getattr(node, "flow_style", False):
        return text[:start] + flow(value) + text[end:]
    return None


def _block_items(text: str, node: Any, items: list[Any]) -> str:
    """Items in the list's own style: its column, its `-` spacing."""
    column = int(node.start_mark.column)
    first = node.value[0].start_mark
    dash = text[node.start_mark.index : first.index] if first.line == node.start_mark.line else "- "
    lines = [dash + flow(item) for item in items]
    ending = "\n" if text[: node.end_mark.index].endswith("\n") else ""
    return ("\n" + " " * column).join(lines) + ending


def _add_to(text: str, section: Any, leaf: str, value: Any) -> str | None:
    """A key new to a section: after its last entry, at its keys' column."""
    if section.flow_style:
        close = int(section.end_mark.index) - 1
        return text[:close] + f", {leaf}: {flow(value)}" + text[close:]
    column = int(section.value[0][0].start_mark.column)
    key, node = section.value[-1]
    empty = node.start_mark.index == node.end_mark.index  # its mark is the next token's
    last = key.end_mark.index if empty else node.end_mark.index
    line_end = text.find("\n", last - 1 if text[last - 1 : last] == "\n" else last)
    if line_end < 0:
        return text + "\n" + " " * column + f"{leaf}: {flow(value)}\n"
    return text[:line_end] + "\n" + " " * column + f"{leaf}: {flow(value)}" + text[line_end:]


def _append(text: str, section: str, leaf: str, value: Any) -> str:
    if text and not text.endswith("\n"):
        text += "\n"
    if section:
        return text + f"{section}:\n  {leaf}: {flow(value)}\n"
    return text + f"{leaf}: {flow(value)}\n"


def flow(value: Any) -> str:
    """`value` as YAML on one line (quoted when it must be)."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe")
    yaml.default_flow_style = True
    yaml.width = 1 << 20
    out = io.StringIO()
    yaml.dump([value], out)
    return out.getvalue().strip()[1:-1]
