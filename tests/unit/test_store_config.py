"""Flag parsing and checks of the store configuration (etcd-style flags)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubelite.store.config import (
    ConfigError,
    HostPort,
    StoreConfig,
    parse_initial_cluster,
    parse_url,
)

CLUSTER = "a=http://127.0.0.1:2380,b=http://127.0.0.2:2380,c=http://127.0.0.3:2380"


def config(**overrides: object) -> StoreConfig:
    fields: dict[str, object] = {
        "name": "a",
        "data_dir": Path("/tmp/x"),
        "listen_client": [HostPort("127.0.0.1", 0)],
        "advertise_client": None,
        "listen_peer": HostPort("127.0.0.1", 2380),
        "initial_cluster": parse_initial_cluster(CLUSTER),
        "initial_cluster_state": "new",
        "peer_password": "pw",
    }
    fields.update(overrides)
    return StoreConfig(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:2379", HostPort("127.0.0.1", 2379)),
        ("https://localhost:0", HostPort("localhost", 0)),
        (" http://10.0.0.1:80 ", HostPort("10.0.0.1", 80)),
    ],
    ids=["http", "https-port-0", "whitespace"],
)
def test_parse_url(url: str, expected: HostPort) -> None:
    assert parse_url(url, "--flag") == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("127.0.0.1:2379", "not an http"),
        ("unix:///tmp/sock", "not an http"),
        ("http://127.0.0.1", "has no port"),
        ("http://127.0.0.1:99999", "invalid port"),
    ],
    ids=["no-scheme", "unix", "no-port", "bad-port"],
)
def test_parse_url_rejects(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_url(url, "--flag")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a=http://127.0.0.1:1,a=http://127.0.0.1:2,b=http://127.0.0.1:3", "listed twice"),
        ("a=http://127.0.0.1:1,b=http://127.0.0.1:2", "2 members given"),
        ("a:http://127.0.0.1:1", "not name=http"),
        ("=http://127.0.0.1:1", "not name=http"),
    ],
    ids=["duplicate", "even-size", "no-equals", "no-name"],
)
def test_parse_initial_cluster_rejects(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_initial_cluster(value)


def test_addresses_and_ids_are_stable_and_distinct() -> None:
    first, again = config(), config()
    assert first.raft_address == "127.0.0.1:2380"
    assert first.peer_addresses == ["127.0.0.2:2380", "127.0.0.3:2380"]
    assert first.member_id == again.member_id and first.cluster_id == again.cluster_id
    ids = {first.member_id_of(n) for n in "abc"}
    assert len(ids) == 3 and 0 not in ids
    assert first.name_of_raft_address("127.0.0.3:2380") == "c"
    assert first.name_of_raft_address("127.0.0.9:2380") is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": "z"}, "not listed"),
        ({"listen_peer": HostPort("127.0.0.1", 2381)}, "differs"),
        ({"initial_cluster_state": "old"}, "must be 'new' or 'existing'"),
        ({"auto_compaction_retention": -1}, ">= 0"),
    ],
    ids=["unknown-name", "peer-port-mismatch", "bad-state", "negative-retention"],
)
def test_config_rejects(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config(**overrides)
