"""TLV encodings used on the card.

* Simple TLV (one tag byte, one length byte): the social-security records (card-protocol.md §5.1).
* BER-TLV (ISO/IEC 7816-4 / EMV, tags of one or two bytes, lengths up to 255): FCIs and the
  debit application's records.
"""

from __future__ import annotations


def simple_tlv(tag: int, value: bytes) -> bytes:
    if len(value) > 0xFE:
        raise ValueError("a simple-TLV value is at most 254 bytes")
    return bytes([tag, len(value)]) + value


def parse_simple_tlv(data: bytes) -> list[tuple[int, bytes]]:
    """All (tag, value) pairs in order; ValueError on a truncated element."""
    items: list[tuple[int, bytes]] = []
    at = 0
    while at < len(data):
        if data[at] in (0x00, 0xFF):  # padding between or after elements
            at += 1
            continue
        if at + 2 > len(data) or at + 2 + data[at + 1] > len(data):
            raise ValueError("truncated simple-TLV element")
        tag, length = data[at], data[at + 1]
        items.append((tag, bytes(data[at + 2 : at + 2 + length])))
        at += 2 + length
    return items


def ber_tlv(tag: int, value: bytes) -> bytes:
    """One BER-TLV element; tag given as an int (0x9F0C → two bytes)."""
    tag_bytes = tag.to_bytes(2 if tag > 0xFF else 1, "big")
    if len(value) < 0x80:
        length = bytes([len(value)])
    elif len(value) <= 0xFF:
        length = bytes([0x81, len(value)])
    else:
        raise ValueError("BER-TLV values here are at most 255 bytes")
    return tag_bytes + length + value


def parse_ber_tlv(data: bytes) -> list[tuple[int, bytes]]:
    """The top-level (tag, value) pairs of a BER-TLV string; ValueError if malformed."""
    items: list[tuple[int, bytes]] = []
    at = 0
    while at < len(data):
        if data[at] in (0x00, 0xFF):
            at += 1
            continue
        tag = data[at]
        at += 1
        if tag & 0x1F == 0x1F:  # two-byte tag
            if at >= len(data):
                raise ValueError("truncated BER-TLV tag")
            tag = (tag << 8) | data[at]
            at += 1
        if at >= len(data):
            raise ValueError("truncated BER-TLV length")
        length = data[at]
        at += 1
        if length == 0x81:
            length = data[at]
            at += 1
        elif length > 0x81:
            raise ValueError("BER-TLV lengths above 255 are not used here")
        if at + length > len(data):
            raise ValueError("truncated BER-TLV value")
        items.append((tag, bytes(data[at : at + length])))
        at += length
    return items


def is_constructed(tag: int) -> bool:
    first = tag >> 8 if tag > 0xFF else tag
    return bool(first & 0x20)


def flatten_ber_tlv(data: bytes) -> dict[int, bytes]:
    """Every primitive element at any depth, by tag (the first occurrence wins)."""
    found: dict[int, bytes] = {}
    for tag, value in parse_ber_tlv(data):
        if is_constructed(tag):
            for inner_tag, inner in flatten_ber_tlv(value).items():
                found.setdefault(inner_tag, inner)
        else:
            found.setdefault(tag, value)
    return found


def parse_dol(dol: bytes) -> list[tuple[int, int]]:
    """A data object list (EMV Book 3 §5.4): (tag, length) pairs, tags of one or two bytes."""
    items: list[tuple[int, int]] = []
    at = 0
    while at < len(dol):
        tag = dol[at]
        at += 1
        if tag & 0x1F == 0x1F:
            if at >= len(dol):
                raise ValueError("truncated DOL tag")
            tag = (tag << 8) | dol[at]
            at += 1
        if at >= len(dol):
            raise ValueError("truncated DOL length")
        items.append((tag, dol[at]))
        at += 1
    return items


def dol_length(dol: bytes) -> int:
    """How many bytes of data the terminal sends for this DOL."""
    return sum(length for _, length in parse_dol(dol))


def dol_values(dol: bytes, data: bytes) -> dict[int, bytes]:
    """The terminal's data for a DOL, cut into its items by tag."""
    values: dict[int, bytes] = {}
    at = 0
    for tag, length in parse_dol(dol):
        values[tag] = data[at : at + length]
        at += length
    return values
