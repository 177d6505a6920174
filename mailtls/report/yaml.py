"""YAML report: the same document as JSON (`schema: 1`), written by ruamel.yaml."""

from __future__ import annotations

import io

from mailtls.models import Report
from mailtls.report.document import document


def render(report: Report) -> str:
    from ruamel.yaml import YAML  # only the YAML format pays for the import

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.allow_unicode = False  # U+202E and undecodable file-name bytes as escapes, not raw
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    # The document shares one dict per certificate among the chains that hold it: written
    # out in full each time, as JSON does, not as YAML anchors and aliases.
    yaml.representer.ignore_aliases = lambda _data: True
    out = io.StringIO()
    yaml.dump(document(report), out)
    return out.getvalue()
