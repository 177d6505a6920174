"""Dovecot `$name` and `$ENV:name` in setting values, as the config process expands them.

2.3 (doveconf -x, found by differential testing against 2.3.19): only an unquoted value that
is not a `<file` is expanded, word by word: a word that starts with `$` is one variable whole
(`$ENV:D/x.pem` asks the environment for `D/x.pem`), any other word is kept as written, so
`<$ENV:D/x.pem` opens the file `$ENV:D/x.pem`. 2.4 expands `$SET:name` and `$ENV:name` inside
words.
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

VARIABLE_24 = re.compile(r"\$(ENV:\w+|SET:\w+)")
SETTING_NAME = re.compile(r"\w+")
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
    if config.version == "2.3" and (setting.from_file or setting.quoted):
        if report and setting.from_file:
            _say(
                config,
                setting,
                f"{key} = <{setting.value}: Dovecot 2.3 expands no variable in a file name; it"
                f" opens {setting.value} as written",
            )
        return setting
    known = _visible(config, scope, key)
    whole = (VARIABLE_24 if config.version == "2.4" else SETTING_NAME).fullmatch(setting.value[1:])
    if setting.value.startswith("$") and whole and not setting.from_file:
        name = setting.value[1:].removeprefix("SET:")
        if name in known:  # `ssl_key = $ssl_cert` takes `<file` along with the path.
            return replace(known[name], location=setting.location)
    expander = _Expander(config, setting, known, env, report, key)
    if config.version == "2.4":
        return replace(setting, value=VARIABLE_24.sub(expander.variable, setting.value))
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
        """A 2.3 word: `$name` and `$ENV:name` whole, anything else as written."""
        if not word.startswith("$"):
            return word
        name = word[1:]
        if name.startswith("ENV:"):
            return self._bounded(self.env.get(name[4:], ""))
        if not SETTING_NAME.fullmatch(name):
            raise ConfigError(f"{self.setting.location}: Unknown variable: {word}")
        return self._lookup(name)

    def variable(self, match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("ENV:") and name[4:] in self.env:
            return self._bounded(self.env[name[4:]])
        return self._lookup(name.removeprefix("SET:"))

    def _lookup(self, name: str) -> str:
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
