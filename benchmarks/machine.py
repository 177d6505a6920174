"""The machine a benchmark ran on: cores, CPU, Python, cryptography and OpenSSL versions."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import cryptography
from cryptography.hazmat.backends.openssl.backend import backend


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown CPU"
    for line in text.splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return "unknown CPU"


def openssl_binary() -> str:
    try:
        done = subprocess.run(
            ["openssl", "version"], capture_output=True, text=True, check=False, timeout=10
        )
    except OSError:
        return "no openssl binary"
    return done.stdout.strip()


def load() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


def describe() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"Machine: {cores} cores (nproc), {cpu_model()}; Python {platform.python_version()},"
        f" cryptography {cryptography.__version__} ({backend.openssl_version_text()});"
        f" {openssl_binary()} for the shell loop"
    )
