"""Fan-out of released updates (server.fanout): shared WebSocket bytes written straight
to each socket must keep every guarantee of the queued path — the welcome first, each
seq exactly once and in order, no client's own updates echoed, every wire form (JSON
text, binary, batch frames or not) on one document."""

from __future__ import annotations

import asyncio
import json
import random

import websockets
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from tandem.protocol import binary, server_frames
from tandem.server.fanout import MAX_BATCH_FRAMES, ReleasedRun, encode_frames
from tests.collab.helpers import RawClient
from tests.conftest import close_all, new_client

DOC = "fanout-doc"


# -- the encoder, byte for byte -----------------------------------------------------------
def parse_websocket_frames(data: bytes) -> list[Frame]:
    """Parse server-to-client frames with websockets' own parser (unmasked)."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    frames = []
    while reader.buffer:
        parser = Frame.parse(reader.read_exact, mask=False)
        try:
            while True:
                next(parser)
        except StopIteration as done:
            frames.append(done.value)
    return frames


def updates(n: int, senders: list[object | None]) -> ReleasedRun:
    run = ReleasedRun()
    for i in range(n):
        frame = server_frames.update(i + 1, "S" * 20, f"client-{i % 3}", i, "user", bytes([i]) * 30)
        run.add(i + 1, frame, senders[i % len(senders)])
    return run


def test_a_run_is_encoded_once_per_form_and_shared_by_every_non_sender():
    alice, bob, carol = object(), object(), object()
    run = updates(5, [alice, None])
    for binary_form in (True, False):
        for batching in (True, False):
            first = run.wire_for(bob, binary=binary_form, batching=batching, after_seq=0)
            again = run.wire_for(carol, binary=binary_form, batching=batching, after_seq=0)
            assert first is again  # the same bytes object for every receiver
            frames = parse_websocket_frames(first)
            if batching:
                assert len(frames) == 1
            else:
                assert len(frames) == 5
            opcode = Opcode.BINARY if binary_form else Opcode.TEXT
            assert all(f.opcode is opcode and f.fin for f in frames)


def test_a_sender_gets_its_own_encoding_without_its_updates():
    alice, bob = object(), object()
    run = updates(6, [alice, bob])  # seqs 1, 3, 5 from alice; 2, 4, 6 from bob
    wire = run.wire_for(alice, binary=True, batching=True, after_seq=0)
    assert wire is not None
    (frame,) = parse_websocket_frames(wire)
    seqs = [u.seq for u in binary.decode_server_frame(frame.data)]  # type: ignore[union-attr]
    assert seqs == [2, 4, 6]
    # and seqs a sync already delivered are left out
    wire = run.wire_for(object(), binary=False, batching=False, after_seq=4)
    assert wire is not None
    assert [json.loads(f.data)["seq"] for f in parse_websocket_frames(wire)] == [5, 6]
    assert run.wire_for(alice, binary=True, batching=True, after_seq=6) is None


def test_long_runs_are_split_into_bounded_batch_frames():
    payloads = [bytes([binary.SERVER_UPDATE]) + bytes(100) for _ in range(MAX_BATCH_FRAMES + 10)]
    frames = parse_websocket_frames(encode_frames(payloads, batching=True))
    assert len(frames) == 2
    parts = [binary.decode_batch(f.data) for f in frames]
    assert [len(p) for p in parts] == [MAX_BATCH_FRAMES, 10]


# -- end to end ---------------------------------------------------------------------------
async def test_joiners_get_the_welcome_first_and_every_seq_once_while_others_type(server):
    """Clients join one after another while three writers type without pause: each
    joiner's first frame is its welcome (a released update written to a socket before
    it crashed the bench client), and after typing stops each joiner holds every update
    after its snapshot exactly once, in seq order."""
    writers = [
        new_client(server, f"writer-{i}", DOC, initial_content="<p>x</p>" if i == 0 else None)
        for i in range(3)
    ]
    joiners: list[RawClient] = []
    frames_of: dict[int, list[dict]] = {}
    stop = asyncio.Event()

    async def type_until_stopped(client, rng: random.Random) -> None:
        while not stop.is_set():
            client.append_paragraph(f"w{rng.randrange(1000)}")
            await asyncio.sleep(rng.uniform(0.0, 0.004))

    async def read(index: int, raw: RawClient) -> None:
        frames = frames_of.setdefault(index, [])
        try:
            while True:
                raw_frame = await raw.ws.recv()
                if isinstance(raw_frame, bytes):
                    for part in binary.decode_server_frame(raw_frame):
                        frames.append(
                            part.as_message() if not isinstance(part, str) else json.loads(part)
                        )
                else:
                    msg = json.loads(raw_frame)
                    frames.extend(msg["messages"] if msg["type"] == "batch" else [msg])
        except websockets.ConnectionClosed:
            return

    try:
        await writers[0].start()
        await writers[0].wait_synced()
        for writer in writers[1:]:
            await writer.start()
            await writer.wait_synced()
        rng = random.Random(7)
        typing = [asyncio.create_task(type_until_stopped(w, rng)) for w in writers]
        readers = []
        for i in range(12):
            raw = await RawClient.connect(server)
            joiners.append(raw)
            await raw.send(
                raw.hello_frame(
                    server.tenant, DOC, user=f"joiner-{i}", batch=i % 2 == 0, binary=i % 3 != 0
                )
            )
            readers.append(asyncio.create_task(read(i, raw)))
            await asyncio.sleep(0.03)
        stop.set()
        await asyncio.gather(*typing)
        await asyncio.gather(*(w.flush() for w in writers))
        head = max(w.version for w in writers)
        deadline = asyncio.get_running_loop().time() + 20
        while asyncio.get_running_loop().time() < deadline:
            if all(
                any(f.get("seq") == head and f["type"] == "update" for f in frames_of.get(i, []))
                or any(
                    f["type"] == "synced" and f.get("version", 0) >= head
                    for f in frames_of.get(i, [])
                )
                for i in range(12)
            ):
                break
            await asyncio.sleep(0.1)
        for i in range(12):
            frames = frames_of[i]
            assert frames[0]["type"] == "welcome", (i, frames[:3])
            snapshot = next(f for f in frames if f["type"] == "snapshot")
            seqs = [f["seq"] for f in frames if f["type"] == "update"]
            assert seqs == list(range(snapshot["seq"] + 1, head + 1)), (i, snapshot["seq"], head)
            assert any(f["type"] == "synced" for f in frames)
    finally:
        await close_all(writers)
        await asyncio.gather(*(j.close() for j in joiners), return_exceptions=True)


async def test_every_wire_form_on_one_document_gets_every_update_once_in_order(server):
    writer = new_client(server, "writer", DOC, initial_content="<p>x</p>")
    forms = [(b, batch) for b in (False, True) for batch in (False, True)]
    raws: list[RawClient] = []
    try:
        await writer.start()
        await writer.wait_synced()
        for binary_form, batching in forms:
            raw = await RawClient.connect(server)
            raws.append(raw)
            await raw.send(
                raw.hello_frame(
                    server.tenant, DOC, user=f"form-{len(raws)}", batch=batching, binary=binary_form
                )
            )
        before = writer.version
        for i in range(200):
            writer.append_paragraph(f"p{i}")
            if i % 50 == 0:
                await asyncio.sleep(0)
        await writer.flush()
        head = writer.version
        assert head - before >= 1
        for raw, (binary_form, batching) in zip(raws, forms, strict=True):
            seqs: list[int] = []
            kinds: list[str] = []
            while not seqs or seqs[-1] < head:
                raw_frame = await asyncio.wait_for(raw.ws.recv(), 10)
                if isinstance(raw_frame, bytes):
                    assert binary_form
                    parts = binary.decode_server_frame(raw_frame)
                    msgs = [
                        p.as_message() if not isinstance(p, str) else json.loads(p) for p in parts
                    ]
                else:
                    msg = json.loads(raw_frame)
                    assert batching or msg["type"] != "batch"
                    msgs = msg["messages"] if msg["type"] == "batch" else [msg]
                kinds += [m["type"] for m in msgs]
                seqs += [m["seq"] for m in msgs if m["type"] == "update"]
            assert kinds[0] == "welcome"
            snapshot_seq = 0 if "snapshot" not in kinds else None
            assert seqs == sorted(set(seqs)), "each seq once, in order"
            assert seqs[-1] == head and seqs == list(range(seqs[0], head + 1))
            assert snapshot_seq in (0, None)
    finally:
        await close_all([writer])
        await asyncio.gather(*(r.close() for r in raws), return_exceptions=True)
