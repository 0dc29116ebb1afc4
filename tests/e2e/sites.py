"""`skyport site teardown` for tests that run a site with tenant networks:
before the site starts (what an interrupted earlier run left under the same
names) and after it stops, also when the test failed half-way, so no bridge,
namespace or route of a test site outlives it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import skyport_bin


def teardown(config: Path, data_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(skyport_bin()), "site", "teardown", "--config", str(config),
                           "--data-dir", str(data_dir), *extra],
                          capture_output=True, text=True, timeout=120)


def start_site(server_factory, config: Path, data_dir: Path):
    """A generator for a fixture: clears what an earlier run left, starts the
    site's gateway, and after the test stops it and takes the site off the
    machine (`--force`: the test's guests go too)."""
    cleared = teardown(config, data_dir.parent / "earlier-run", "--force")
    assert cleared.returncode == 0, cleared
    server = server_factory(data_dir=data_dir, config=config, compute=True)
    try:
        yield server
    finally:
        server.stop()
        done = teardown(config, data_dir, "--force")
        assert done.returncode == 0, done
