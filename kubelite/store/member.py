"""One running store member: Raft, group commit, watch hub, gRPC server and leader duties.

`StoreNode.run()` is the whole life of a ``kubelite store`` process:

1. start pysyncobj (`RaftMember`), whose apply thread posts events to the event loop;
2. serve the etcd API on every ``--listen-client-urls`` address (port 0 picks a free port) and
   write ``<data-dir>/endpoints.json`` with the real URLs once serving;
3. announce this member's URLs (a replicated `RegisterMemberOp`) for MemberList;
4. while this member leads: claim the leader epoch, expire leases, auto-compact history. Each of
   these commands carries the epoch, so one issued by a deposed leader is rejected on apply.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc

from kubelite.gcpolicy import GcPolicy
from kubelite.pb import rpc_pb2
from kubelite.store.config import StoreConfig
from kubelite.store.malformed import RejectMalformed
from kubelite.store.mvcc import MvccState
from kubelite.store.proposer import NoLeader, Proposer, RequestTimeout
from kubelite.store.raft import RaftMember, RaftSettings
from kubelite.store.requireleader import LeaderMonitor, RequireLeader
from kubelite.store.server import MAX_REQUEST_BYTES, add_services
from kubelite.store.types import (
    AutoCompactOp,
    Batch,
    BatchOutcome,
    ClaimLeadershipOp,
    ExpireLeasesOp,
    Op,
    RegisterMemberOp,
    StoreError,
)
from kubelite.store.watchhub import WatchHub
from kubelite.store.watchserver import WatchService

log = logging.getLogger(__name__)

VERSION = "3.4.0+kubelite.0.1.0"
LEADER_DUTY_PERIOD = 0.1
GRPC_OVERHEAD_BYTES = 512 * 1024


class StoreNode:
    """Composition root of a member (see module docstring)."""

    def __init__(self, config: StoreConfig, settings: RaftSettings | None = None) -> None:
        self.config = config
        self._settings = settings or RaftSettings()
        self.hub = WatchHub()
        self.progress_notify_interval = config.progress_notify_interval
        self._loop: asyncio.AbstractEventLoop | None = None
        self._raft: RaftMember | None = None
        self._known_state: MvccState | None = None
        self._server: grpc.aio.Server | None = None
        self.client_urls: list[str] = []
        self.proposer = Proposer(self, config.name, request_timeout=config.request_timeout)
        self.leader_monitor = LeaderMonitor(self.has_leader, self._settings.election_timeout_max)
        self._last_auto_compact = 0.0
        self._cluster_id = config.cluster_id
        self._member_id = config.member_id
        self._watch_service: WatchService | None = None

    # -- what the services use -------------------------------------------------------------------

    @property
    def raft(self) -> RaftMember:
        assert self._raft is not None, "store not started"
        return self._raft

    @property
    def lock(self) -> threading.Lock:
        return self.raft.lock

    @property
    def state(self) -> MvccState:
        return self.raft.state

    @staticmethod
    def now_ms() -> int:
        return int(time.time() * 1000)

    def header(self, revision: int | None = None) -> rpc_pb2.ResponseHeader:
        if revision is None:
            revision = self.state.revision
        return rpc_pb2.ResponseHeader(
            cluster_id=self._cluster_id,
            member_id=self._member_id,
            revision=revision,
            raft_term=self.raft.term,
        )

    def member_list(self) -> list[rpc_pb2.Member]:
        with self.raft.lock:
            registered = dict(self.state.members)
        members = []
        for name, peer in self.config.initial_cluster.items():
            member_id = self.config.member_id_of(name)
            known = registered.get(member_id)
            members.append(
                rpc_pb2.Member(
                    ID=member_id,
                    name=name if known is not None else "",
                    peerURLs=[f"http://{peer}"],
                    clientURLs=list(known.client_urls) if known is not None else [],
                )
            )
        return members

    def leader_member_id(self) -> int:
        address = self.raft.leader_address()
        name = self.config.name_of_raft_address(address) if address else None
        return self.config.member_id_of(name) if name else 0

    def status(self) -> rpc_pb2.StatusResponse:
        with self.raft.lock:
            revision = self.state.revision
            live = self.state.keyspace.live_bytes
        size = sum(
            p.stat().st_size
            for p in (self.config.data_dir / "raft.journal", self.config.data_dir / "raft.dump")
            if p.exists()
        )
        return rpc_pb2.StatusResponse(
            header=self.header(revision),
            version=VERSION,
            dbSize=size,
            leader=self.leader_member_id(),
            raftIndex=self.raft.commit_index,
            raftTerm=self.raft.term,
            raftAppliedIndex=self.raft.applied_index,
            dbSizeInUse=live,
        )

    # -- Submitter protocol for the proposer -----------------------------------------------------

    def submit(self, batch: Batch, callback: Callable[[BatchOutcome | None, int], None]) -> None:
        self.raft.submit(batch, callback)

    def has_leader(self) -> bool:
        raft = self._raft
        return raft is not None and raft.leader_address() is not None and raft.has_quorum()

    def current_leader(self) -> str | None:
        return None if self._raft is None else self._raft.leader_address()

    # -- apply thread -> event loop ---------------------------------------------------------------

    def _on_applied(self, outcome: BatchOutcome, revision: int) -> None:
        """Runs on pysyncobj's thread: hand the events to the loop, nothing more."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._publish, outcome.events, revision)

    def _publish(self, events: tuple[object, ...], revision: int) -> None:
        state = self.state
        if self._known_state is not None and state is not self._known_state:
            # A snapshot from the leader replaced our state: live watchers may have missed
            # events, so they are cancelled and clients watch again from their revision.
            log.warning("state replaced by a snapshot; cancelling %d watchers", len(self.hub))
            if self._watch_service is not None:
                self._watch_service.cancel_all("store state was replaced by a snapshot")
        self._known_state = state
        self.hub.publish(events, revision)  # type: ignore[arg-type]

    # -- lifetime ---------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        endpoints_file = self.config.data_dir / "endpoints.json"
        with contextlib.suppress(FileNotFoundError):
            endpoints_file.unlink()
        self._raft = await asyncio.to_thread(self._start_raft)
        self._known_state = self.state
        self.proposer.start()
        await self._serve()
        _write_atomically(endpoints_file, json.dumps({"client_urls": self.client_urls}))
        log.info("serving client requests on %s", ",".join(self.client_urls))
        duties = asyncio.create_task(self._leader_duties())
        register = asyncio.create_task(self._register())
        collector = asyncio.create_task(GcPolicy().run())
        monitor = asyncio.create_task(self.leader_monitor.run())
        try:
            await stop.wait()
        finally:
            for task in (duties, register, collector, monitor):
                task.cancel()
            await self.proposer.stop()
            if self._server is not None:
                await self._server.stop(grace=1.0)
            await asyncio.to_thread(self.raft.close)

    def _start_raft(self) -> RaftMember:
        return RaftMember(
            self.config.raft_address,
            self.config.peer_addresses,
            self.config.data_dir,
            self.config.peer_password,
            on_applied=self._on_applied,
            settings=self._settings,
        )

    async def _serve(self) -> None:
        limit = MAX_REQUEST_BYTES + GRPC_OVERHEAD_BYTES
        server = grpc.aio.server(
            interceptors=[RejectMalformed(), RequireLeader(self.leader_monitor)],
            options=[
                ("grpc.max_receive_message_length", limit),
                ("grpc.max_send_message_length", 2**31 - 1),
                ("grpc.so_reuseport", 0),
                ("grpc.max_concurrent_streams", 2**31 - 1),
            ],
        )
        self._watch_service = add_services(server, self)
        urls = []
        for listen in self.config.listen_client:
            try:
                port = server.add_insecure_port(f"{listen.host}:{listen.port}")
            except RuntimeError as exc:
                raise OSError(f"cannot listen for clients on {listen}: {exc}") from exc
            if port == 0:
                raise OSError(f"cannot listen for clients on {listen}")
            urls.append(f"http://{listen.host}:{port}")
        await server.start()
        self._server = server
        self.client_urls = list(self.config.advertise_client or urls)

    async def _propose_quietly(self, op: Op) -> object:
        try:
            return (await self.proposer.propose(op)).result
        except (NoLeader, RequestTimeout) as exc:
            return exc

    async def _register(self) -> None:
        """Announce our URLs once; retried until it commits (MemberList reads them)."""
        op = RegisterMemberOp(
            self.config.member_id,
            self.config.name,
            (f"http://{self.config.raft_address}",),
            tuple(self.client_urls),
        )
        delay = 0.05
        while True:
            with self.raft.lock:
                known = self.state.members.get(self.config.member_id)
            if known is not None and known.client_urls == op.client_urls:
                return
            result = await self._propose_quietly(op)
            if not isinstance(result, Exception | StoreError):
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _leader_duties(self) -> None:
        while True:
            await asyncio.sleep(LEADER_DUTY_PERIOD)
            if not self.raft.is_leader():
                continue
            try:
                await self._lead_once()
            except Exception:
                log.exception("leader duty failed")

    async def _lead_once(self) -> None:
        term = self.raft.term
        now = self.now_ms()
        with self.raft.lock:
            epoch = self.state.leader_epoch
            expired = self.state.expired_leases(now)
            revision, compacted = self.state.revision, self.state.compact_revision
        if epoch < term:
            extension = int(self._settings.election_timeout_max * 1000)
            await self._propose_quietly(ClaimLeadershipOp(term, extension))
            return
        if epoch != term:
            return
        if expired:
            await self._propose_quietly(ExpireLeasesOp(term, expired))
        retention = self.config.auto_compaction_retention
        target = revision - retention
        step = max(1, retention // 10)
        if (
            retention
            and target >= compacted + step
            and time.monotonic() - self._last_auto_compact > 1
        ):
            self._last_auto_compact = time.monotonic()
            await self._propose_quietly(AutoCompactOp(term, target))


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


async def serve_until_signalled(config: StoreConfig, settings: RaftSettings | None = None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await StoreNode(config, settings).run(stop)
