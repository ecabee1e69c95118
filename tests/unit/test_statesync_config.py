"""ops.statesync.configure writes the [statesync] section a joining node needs."""

import tomllib

import pytest

from aitbc.ops import statesync

CONFIG = """\
moniker = "n"

[statesync]
enable = false
rpc_servers = ""
trust_height = 0
trust_hash = ""
trust_period = "168h0m0s"
discovery_time = "15s"
temp_dir = ""
chunk_request_timeout = "10s"

[blocksync]
version = "v0"
"""


@pytest.fixture
def home(tmp_path):
    (tmp_path / "cometbft" / "config").mkdir(parents=True)
    (tmp_path / "cometbft" / "config" / "config.toml").write_text(CONFIG)
    return tmp_path


def read(home):
    return tomllib.loads((home / "cometbft" / "config" / "config.toml").read_text())


def test_configure_writes_statesync(home):
    statesync.configure(home, ["127.0.0.1:26657", "http://10.0.0.2:26657"], 2000, "ab" * 32, trust_period="24h")
    config = read(home)
    assert config["statesync"]["enable"] is True
    assert config["statesync"]["rpc_servers"] == "http://127.0.0.1:26657,http://10.0.0.2:26657"
    assert config["statesync"]["trust_height"] == 2000
    assert config["statesync"]["trust_hash"] == "AB" * 32
    assert config["statesync"]["trust_period"] == "24h"
    assert config["blocksync"]["version"] == "v0"


def test_one_rpc_server_is_given_twice(home):
    statesync.configure(home, ["127.0.0.1:26657"], 5, "CD" * 32)
    assert read(home)["statesync"]["rpc_servers"] == "http://127.0.0.1:26657,http://127.0.0.1:26657"


def test_configure_refuses_missing_trust(home):
    with pytest.raises(ValueError):
        statesync.configure(home, ["127.0.0.1:26657"], 0, "")
    with pytest.raises(ValueError):
        statesync.configure(home, [], 5, "CD" * 32)
