"""Which channels each credential may act through (the first is its default); the password
policy; how long API keys live."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from zxcvbn import zxcvbn

from yikatong.core.actor import Channel, Role

# Which channels a credential may claim in X-Ykt-Channel (the first is its default). A login's
# bearer token is a person at a desk or on their phone; an API key is a machine (a kiosk, a
# bank's or operator's system, a terminal). The split matters because the rules differ by
# channel: a formal loss at a bank branch, a refund only at a staffed direct-outlet counter.
CHANNELS_BY_CREDENTIAL: dict[str, dict[Role, tuple[Channel, ...]]] = {
    "bearer": {
        Role.HOLDER: (Channel.ONLINE_PORTAL, Channel.ONLINE_APP),
        Role.SS_OUTLET: (Channel.OUTLET,),
        Role.CITIZEN_OUTLET: (Channel.CITIZEN_OUTLET,),
        Role.PHONE_AGENT: (Channel.PHONE_12333,),
        Role.EMPLOYER_AGENT: (Channel.EMPLOYER,),
        Role.BANK: (Channel.BANK_BRANCH,),
        Role.TRANSIT_OPERATOR: (Channel.PARTNER_API,),
        Role.MEDICAL_OFFICE: (Channel.MEDICAL_DESK,),
        Role.MEDICAL_INSTITUTION: (Channel.HOSPITAL,),
        Role.PAYING_OFFICE: (Channel.AGENCY,),
        Role.HR_OFFICER: (Channel.AGENCY,),
        Role.BILLER: (Channel.PARTNER_API,),
        Role.VENUE_OPERATOR: (Channel.VENUE,),
        Role.LIBRARIAN: (Channel.LIBRARY,),
        Role.MERCHANT: (Channel.MERCHANT,),
        Role.CAMPAIGN_SPONSOR: (Channel.PARTNER_API,),
        Role.ADMIN: tuple(Channel),
        Role.MONITORING: (Channel.SYSTEM,),
        Role.SYSTEM: (Channel.SYSTEM,),
    },
    # A browser's signed-in session (pages.sessions): the cookie of a person at a page, so the
    # channel is the one that person works through; partner systems have no pages.
    "session": {
        Role.HOLDER: (Channel.ONLINE_PORTAL,),
        Role.SS_OUTLET: (Channel.OUTLET,),
        Role.CITIZEN_OUTLET: (Channel.CITIZEN_OUTLET,),
        Role.PHONE_AGENT: (Channel.PHONE_12333,),
        Role.EMPLOYER_AGENT: (Channel.EMPLOYER,),
        Role.BANK: (Channel.BANK_BRANCH,),
        Role.MEDICAL_OFFICE: (Channel.MEDICAL_DESK,),
        Role.MEDICAL_INSTITUTION: (Channel.HOSPITAL,),  # the institution's staff at their day
        Role.PAYING_OFFICE: (Channel.AGENCY,),
        Role.HR_OFFICER: (Channel.AGENCY,),
        Role.BILLER: (Channel.PARTNER_API,),            # the company's billing staff
        Role.VENUE_OPERATOR: (Channel.VENUE,),          # ticket desk and venue staff
        Role.LIBRARIAN: (Channel.LIBRARY,),
        Role.MERCHANT: (Channel.MERCHANT,),             # the shop's staff (their redemptions)
        Role.CAMPAIGN_SPONSOR: (Channel.PARTNER_API,),  # the sponsor's campaign staff
        Role.ADMIN: tuple(Channel),
    },
    "api_key": {  # holders never hold one (API_KEY_ROLES)
        Role.SS_OUTLET: (Channel.OUTLET,),                # the counter's QR and card terminals
        Role.CITIZEN_OUTLET: (Channel.SELF_SERVICE,),     # a self-service machine, never a counter
        Role.PHONE_AGENT: (Channel.PHONE_12333,),         # the 12333 voice system
        Role.EMPLOYER_AGENT: (Channel.EMPLOYER,),         # the employer's HR system
        Role.BANK: (Channel.PARTNER_API,),                # the bank's system, never a branch
        Role.TRANSIT_OPERATOR: (Channel.PARTNER_API,),
        Role.MEDICAL_OFFICE: (Channel.MEDICAL_DESK,),
        Role.MEDICAL_INSTITUTION: (Channel.HOSPITAL,),    # the hospital information system
        Role.PAYING_OFFICE: (Channel.AGENCY,),            # the paying office's system (payee lists)
        Role.HR_OFFICER: (Channel.AGENCY,),               # the HR system (人社经办系统)
        Role.BILLER: (Channel.PARTNER_API,),              # the utility's billing system
        Role.VENUE_OPERATOR: (Channel.VENUE,),            # the venue's gates and ticketing system
        Role.LIBRARIAN: (Channel.LIBRARY,),               # the library system and its kiosks
        Role.MERCHANT: (Channel.MERCHANT,),               # the merchant's till
        Role.CAMPAIGN_SPONSOR: (Channel.PARTNER_API,),    # the sponsor's system
        Role.ADMIN: tuple(Channel),
        Role.MONITORING: (Channel.SYSTEM,),               # the Prometheus scraper
        Role.SYSTEM: (Channel.SYSTEM,),
    },
}
CREDENTIAL_KINDS = tuple(CHANNELS_BY_CREDENTIAL)


# --- passwords (OWASP ASVS 2.1) ------------------------------------------------------------

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128
# zxcvbn's score runs 0..4; 3 is "safely unguessable: moderate protection from an offline
# slow-hash attack" (fewer than 10^10 guesses refused). Common and breached passwords, keyboard
# runs, repeats, dates and the user's own names score 0-2.
MIN_PASSWORD_SCORE = 3
# zxcvbn's work grows with length (0.3 s at 128 characters); only this many leading characters
# are scored, so a sign-up cannot be made to burn CPU. A weak head refuses a longer password.
SCORED_PASSWORD_PREFIX = 64
# Words of this platform an attacker tries first, besides the user's own name and username.
SITE_WORDS = ("yikatong", "ykt", "changzhou", "jiangsu", "yikatong-demo")


@dataclass(frozen=True)
class PasswordVerdict:
    """Why a password is refused, in both languages."""

    reason_zh: str
    reason_en: str


def password_verdict(password: str, *, user_inputs: Iterable[str | None] = ()) -> PasswordVerdict | None:
    """None if the password may be used; else why not (length first, then zxcvbn's score)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return PasswordVerdict(f"至少需要 {MIN_PASSWORD_LENGTH} 个字符",
                               f"it needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        return PasswordVerdict(f"最多 {MAX_PASSWORD_LENGTH} 个字符",
                               f"it may have at most {MAX_PASSWORD_LENGTH} characters")
    inputs = [*SITE_WORDS, *(word for word in user_inputs if word)]
    result = zxcvbn(password[:SCORED_PASSWORD_PREFIX], user_inputs=inputs,
                    max_length=SCORED_PASSWORD_PREFIX)
    if result["score"] >= MIN_PASSWORD_SCORE:
        return None
    feedback = result["feedback"]
    hints = " ".join(part for part in [feedback.get("warning"), *feedback.get("suggestions", [])] if part)
    return PasswordVerdict(
        "太容易被猜中（常见或泄露过的密码、键盘序列、重复、日期、含用户名或姓名）"
        f"，强度 {result['score']}/4，至少需要 {MIN_PASSWORD_SCORE}",
        f"it is too easy to guess (strength {result['score']} of 4, at least "
        f"{MIN_PASSWORD_SCORE} needed)" + (f": {hints}" if hints else ""),
    )


# --- API keys --------------------------------------------------------------------------------

API_KEY_DEFAULT_LIFETIME = timedelta(days=90)
API_KEY_MAX_LIFETIME = timedelta(days=365)
# When a key is rotated the old one keeps working this long (at most), so a partner system can
# switch over without an outage; 0 revokes it at once.
API_KEY_DEFAULT_ROTATION_GRACE = timedelta(hours=24)
API_KEY_MAX_ROTATION_GRACE = timedelta(days=7)
# Roles that may hold API keys: partner systems and staff tools, never a cardholder.
API_KEY_ROLES = frozenset(Role) - {Role.HOLDER, Role.SYSTEM}


def api_key_hint(key: str) -> str:
    """What a listing shows of a key: its last four characters."""
    return key[-4:]

# Every login name, staff or holder: letters, digits and . _ @ - only. No ':' so the names of
# system actors (`cli:alice`, `bank:ICBC`) can never be taken by a sign-up.
USERNAME_PATTERN = r"^[A-Za-z0-9_.@-]{3,64}$"
_USERNAME = re.compile(USERNAME_PATTERN)
# Names the platform's own actors use without a ':' (jobs, set-up, the reference bank's link).
RESERVED_USERNAMES = frozenset({
    "system", "setup", "platform", "demo", "applications", "transit-jobs", "ecard.sync",
    "bank.loss_rule", "national-exchange", "cards.expire_temporary_losses", "root",
})


def is_valid_username(username: str) -> bool:
    """A name a login may have: the shared pattern, and not one a system actor uses."""
    return bool(_USERNAME.match(username)) and username.lower() not in RESERVED_USERNAMES


def channel_for(role: Role, credential_kind: str, requested: str | None) -> Channel | None:
    """The channel a request acts through, or None if its credential may not claim it."""
    allowed = CHANNELS_BY_CREDENTIAL[credential_kind].get(role, ())
    if not allowed:
        return None
    if requested is None:
        return allowed[0]
    try:
        channel = Channel(requested)
    except ValueError:
        return None
    return channel if channel in allowed else None


def channel_table_markdown() -> str:
    """The table above as the X-Ykt-Channel header's description in the OpenAPI spec."""
    titles = {"bearer": "bearer token (a person)", "session": "page session (a browser)",
              "api_key": "API key (a machine)"}
    lines = ["| role | " + " | ".join(titles[kind] for kind in CREDENTIAL_KINDS) + " |",
             "|---|" + "---|" * len(CREDENTIAL_KINDS)]
    for role in Role:
        if role is Role.SYSTEM:
            continue
        cells = [", ".join(CHANNELS_BY_CREDENTIAL[kind].get(role, ())) or "—" for kind in CREDENTIAL_KINDS]
        lines.append(f"| {role} | {' | '.join(cells)} |")
    return "\n".join(lines)


def credential_status(*, revoked_at, expires_at, now) -> str:
    """'revoked', 'expired' or 'active': what a listing says of a token or key."""
    if revoked_at is not None:
        return "revoked"
    if expires_at is not None and expires_at <= now:
        return "expired"
    return "active"


# --- binding an account to a person --------------------------------------------------------

# One-time codes by text message: six digits, short-lived, a few tries each.
SMS_CODE_DIGITS = 6
SMS_CODE_TTL_MINUTES = 10
SMS_CODE_MAX_ATTEMPTS = 5
# Activation codes handed over with the card: 12 characters of Crockford's base32 (60 bits,
# beyond guessing), shown once, good for 90 days.
ACTIVATION_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ACTIVATION_CODE_LENGTH = 12
ACTIVATION_CODE_TTL_DAYS = 90
# What a one-time code is for: the same code never serves another purpose.
CODE_PURPOSES = ("sign_up", "ecard_reset", "phone_change")


def group_activation_code(code: str) -> str:
    """XXXX-XXXX-XXXX, as printed on the hand-over slip."""
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def normalise_code(code: str | None) -> str:
    """What the holder typed, as stored: upper case, without spaces and dashes; the letters
    O, I and L read as the digits they resemble (Crockford)."""
    cleaned = "".join((code or "").split()).replace("-", "").upper()
    return cleaned.translate(str.maketrans({"O": "0", "I": "1", "L": "1"}))
