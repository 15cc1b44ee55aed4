"""`DirectoryChipStore`: one JSON chip image per card under a directory (default var/chips).

Images hold the card's derived keys, like the chip itself: files are written 0600, replaced
atomically (temporary file, fsync, rename), and never logged.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from yikatong.chip.emulator import Card
from yikatong.chip.image import ChipImage
from yikatong.chip.protocols import ChipNotFound
from yikatong.core.errors import InvalidInput

DEFAULT_DIRECTORY = "var/chips"
_CARD_NO = re.compile(r"[0-9A-Za-z]{1,32}")


class DirectoryChipStore:
    def __init__(self, directory: str | Path = DEFAULT_DIRECTORY) -> None:
        self.directory = Path(directory)

    def _path(self, card_no: str) -> Path:
        if not _CARD_NO.fullmatch(card_no):  # the card number becomes a file name
            raise InvalidInput(reason_zh="卡号格式不正确", reason_en="malformed card number")
        return self.directory / f"{card_no}.json"

    def exists(self, card_no: str) -> bool:
        return self._path(card_no).is_file()

    def load(self, card_no: str) -> Card:
        path = self._path(card_no)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ChipNotFound(card_no=card_no) from None
        return Card(ChipImage.from_json(text))

    def save(self, card: Card) -> None:
        self.save_image(card.image)

    def save_image(self, image: ChipImage) -> None:
        path = self._path(image.card_no)
        self.directory.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=self.directory, prefix=".chip-", suffix=".tmp")
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(image.to_json())
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temporary, 0o600)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
