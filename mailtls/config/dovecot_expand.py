"""Dovecot `$name` and `$ENV:name` in setting values, as the config process expands them.

As `doveconf -x` (2.3.19 and 2.4.1) does it, found by differential testing: only an unquoted
value that is not a `<file` is expanded, word by word: a word that starts with `$` is one
variable whole (`$ENV:D/x.pem` asks the environment for `D/x.pem`), any other word is kept as
written, so `<$ENV:D/x.pem` opens the file `$ENV:D/x.pem`. 2.3 names a setting `$name`, 2.4
`$SET:name` (2.4 keeps any other `$word`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from mailtls.errors import ConfigError
from mailtls.models import Finding, Severity

if TYPE_CHECKING:
    from mailtls.config.dovecot import DovecotConfig, Setting
    from mailtls.config.dovecot_filters import Filter

SETTING_NAME = re.compile(r"\w+")
BOOLEAN_LISTS_24 = ("protocols",)  # `protocols { imap = yes }`: no text to expand to
MAX_EXPANDED_CHARS = 16 * 1024 * 1024


def expand(
    config: DovecotConfig,
    scope: Filter,
    key: str,
    setting: Setting,
    env: Mapping[str, str],
    report: bool,
) -> Setting:
    """`setting` with its variables expanded; `report`: say when one expands to nothing."""
    if setting.from_file or setting.quoted:
        if report and setting.from_file and config.version == "2.3":
            _say(
                config,
                setting,
                f"{key} = <{setting.value}: Dovecot 2.3 expands no variable in a file name; it"
                f" opens {setting.value} as written",
            )
        return setting
    known = _visible(config, scope, key)
    prefix = "$SET:" if config.version == "2.4" else "$"
    name = setting.value.removeprefix(prefix)
    if setting.value.startswith(prefix) and name in known and not _file_setting(config, name):
        # `ssl_key = $ssl_cert` takes `<file` along with the path.
        return replace(known[name], location=setting.location)
    expander = _Expander(config, setting, known, env, report, key)
    words = [w for w in setting.value.split(" ") if w]
    return replace(setting, value=" ".join(expander.word(w) for w in words))


class _Expander:
    def __init__(
        self,
        config: DovecotConfig,
        setting: Setting,
        known: Mapping[str, Setting],
        env: Mapping[str, str],
        report: bool,
        key: str,
    ) -> None:
        self.config, self.setting, self.known, self.env = config, setting, known, env
        self.report, self.key = report, key
        self.size = len(setting.value)

    def word(self, word: str) -> str:
        """`$ENV:name` and `$name` (2.4: `$SET:name`) whole, anything else as written."""
        if word.startswith("$ENV:"):
            return self._bounded(self.env.get(word[5:], ""))
        prefix = "$SET:" if self.config.version == "2.4" else "$"
        if not word.startswith(prefix):
            return word
        name = word.removeprefix(prefix)
        if not SETTING_NAME.fullmatch(name):
            reason = "Unknown setting" if prefix == "$SET:" else "Unknown variable"
            raise ConfigError(f"{self.setting.location}: {reason}: {word.removeprefix('$SET:')}")
        if prefix == "$SET:" and name in BOOLEAN_LISTS_24:
            raise ConfigError(
                f"{self.setting.location}: Failed to expand {word}: Setting type can't be"
                " expanded to string"
            )
        return self._lookup(name)

    def _lookup(self, name: str) -> str:
        if _file_setting(self.config, name):
            # doveconf 2.4.1 -x: `$SET:ssl_server_key_file` is empty, set or not.
            message = f"{self.key}: $SET:{name} names a file setting: Dovecot expands it to nothing"
            _say(self.config, self.setting, message)
            return ""
        if name in self.known:
            return self._bounded(self.known[name].value)
        if self.report:
            message = f"{self.key}: ${name} has no value in this block, so it expands to nothing"
            _say(self.config, self.setting, message)
        return ""  # Dovecot expands a setting it knows but nobody set to the empty string

    def _bounded(self, value: str) -> str:
        """Count what a setting grows to before it is built: 40 lines of `a = $a $a` would be
        a terabyte. Dovecot builds it in memory until memory ends; mailtls stops at 16 MiB."""
        self.size += len(value)
        if self.size > MAX_EXPANDED_CHARS:
            raise ConfigError(f"{self.setting.location}: the value expands to more than 16 MiB")
        return value


def _file_setting(config: DovecotConfig, name: str) -> bool:
    return config.version == "2.4" and name.endswith("_file")


def _say(config: DovecotConfig, setting: Setting, message: str) -> None:
    where = setting.location
    config.findings.append(
        Finding("unresolved-variable", Severity.WARNING, message, where, where.path)
    )


def _visible(config: DovecotConfig, scope: Filter, key: str) -> dict[str, Setting]:
    """Settings a `$name` can see. Dovecot 2.3 (doveconf -x, as the config process runs)
    looks only in the block being parsed, except `key = $key`, which sees the outer value."""
    if config.version == "2.4":
        return config.effective(scope)
    own = config.scopes[scope]
    if key in own:
        return own
    outer = config.effective(scope)
    return {**own, key: outer[key]} if key in outer else own
