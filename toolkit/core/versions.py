"""Installed package versions, read from package metadata without importing the packages."""

from __future__ import annotations


def package_versions(packages) -> dict[str, str]:
    """Installed versions of `packages`; missing ones left out."""
    from importlib import metadata

    found = {}
    for package in packages:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return found
