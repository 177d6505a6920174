"""Run one atheris target: python fuzz/one.py TARGET [libFuzzer options and corpus folders]."""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["mailtls"]):
    from targets import TARGETS


def main() -> None:
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
