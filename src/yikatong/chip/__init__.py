"""The card in software and the terminal that talks to it.

* `emulator.Card`: an ISO/IEC 7816-4 card (ATR, APDUs, file system, tearing) carrying the
  social-security application, the T-Union e-purse and a minimal UnionPay debit application.
* `image`: the chip image (everything the chip stores, JSON) and `personalise`.
* `psam`, `host`, `terminal`: the terminal security module, the issuer-side services and the
  terminal library (read, load, purchase, torn-transaction recovery) over a `CardReader`.

Layouts and status words follow docs/card-protocol.md; `docs.md` beside this
file lists what we chose where the public material is silent.
"""
