"""Every ack of a pipelined publish is read (events.nats._AckInbox): a message counts as
stored only on JetStream's ack from the stream it was addressed to."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from yikatong.events.nats import _NO_ACK, _AckInbox, _Batch, _refusal


def reply(data: bytes, headers: dict | None = None, subject: str = "_INBOX.x.0"):
    return SimpleNamespace(data=data, headers=headers, subject=subject)


def test_only_an_ack_from_the_addressed_stream_without_an_error_counts_as_stored():
    assert _refusal(reply(b'{"stream":"YKT_BANK_ICBC","seq":7}'), "YKT_BANK_ICBC") is None
    assert _refusal(reply(b'{"stream":"YKT_BANK_ICBC","seq":7,"duplicate":true}'), "YKT_BANK_ICBC") is None
    refused = b'{"error":{"code":400,"err_code":10054,"description":"message size exceeds maximum allowed"}}'
    assert "message size" in _refusal(reply(refused), "YKT_BANK_ICBC")
    assert _refusal(reply(b'{"stream":"YKT_BANK_BOC","seq":7}'), "YKT_BANK_ICBC") is not None
    assert _refusal(reply(b'{"stream":"YKT_BANK_ICBC"}'), "YKT_BANK_ICBC") is not None
    assert "503" in _refusal(reply(b"", {"Status": "503"}), "YKT_BANK_ICBC")
    assert _refusal(reply(b"[1]"), "YKT_BANK_ICBC") is not None


def test_acks_are_matched_by_reply_subject_and_late_or_stray_ones_are_dropped():
    async def scenario():
        inbox = _AckInbox(SimpleNamespace(new_inbox=lambda: "_INBOX.abc"))
        batch = _Batch(3)
        subjects = [inbox.expect(batch, position, "S") for position in range(3)]
        await inbox.on_reply(reply(b'{"error":{"code":503}}', subject=subjects[1]))
        await inbox.on_reply(reply(b'{"stream":"S","seq":1}', subject=subjects[0]))
        await inbox.on_reply(reply(b'{"stream":"S","seq":1}', subject=subjects[0]))  # a repeat
        await inbox.on_reply(reply(b'{"stream":"S","seq":9}', subject="_INBOX.abc.999"))  # stray
        assert not batch.all_in.done()
        inbox.forget_batch(batch)  # the deadline passed
        await inbox.on_reply(reply(b'{"stream":"S","seq":3}', subject=subjects[2]))  # too late
        return batch

    batch = asyncio.run(scenario())
    assert batch.outcomes[0] is None and batch.outcomes[1] is not None and batch.outcomes[2] is _NO_ACK


def test_a_batch_cut_short_waits_only_for_what_was_sent():
    async def scenario():
        inbox = _AckInbox(SimpleNamespace(new_inbox=lambda: "_INBOX.abc"))
        batch = _Batch(3)
        first = inbox.expect(batch, 0, "S")
        batch.expect_only(1)  # the second message was refused by the client: nothing after it
        await inbox.on_reply(reply(b'{"stream":"S","seq":1}', subject=first))
        return batch

    assert asyncio.run(scenario()).all_in.done()
