"""Command handlers of the emulated card, by (CLA class, INS).

Each handler is `handler(card, cmd, journal) -> bytes | Reply`: it may read everything, change
RAM (`card.volatile`) once it has decided, and stage EEPROM writes in the journal. Raising
`CardStatus(sw)` ends the command with that status and discards what was staged.
"""

from __future__ import annotations

from yikatong.chip.commands import debit, files, purse, security
from yikatong.chip.commands.base import Handler, Reply

HANDLERS: dict[tuple[int, int], tuple[Handler, bool]] = {
    **files.HANDLERS,
    **security.HANDLERS,
    **purse.HANDLERS,
    **debit.HANDLERS,
}
SESSION_KEEPERS = purse.SESSION_KEEPERS

__all__ = ["HANDLERS", "SESSION_KEEPERS", "Handler", "Reply"]
