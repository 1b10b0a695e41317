"""Passphrase strength: estimated guesses against the cost of our Argon2id (runs in the worker).

A small zxcvbn-style estimator: the passphrase is split into tokens (dictionary words,
digit runs, repeats, sequences, keyboard runs, dates, random-looking runs), each token is
priced in guesses, and the product is the estimate. The refusal threshold is expressed as
time for an offline attacker who stole the vault, at our KDF cost: Argon2id with 64 MiB
and 3 passes held back to ATTACKER_GUESSES_PER_S on a large GPU farm, scaled by the
actual parameters. Deliberately conservative: underestimating strength only costs the
user a longer passphrase.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass


def _words(text: str) -> list[str]:
    return text.split()


# A well-funded offline attacker against Argon2id(m=64 MiB, t=3): ~1,000 guesses/s per
# high-end GPU (memory-bound), 100 GPUs.
ATTACKER_GUESSES_PER_S = 100_000.0
REFERENCE_COST = 65_536 * 3  # KiB x passes of that rate
MIN_SECONDS = 100 * 365.25 * 86_400  # a century
MIN_LENGTH = 10

COMMON = frozenset(
    _words("""password passw0rd p@ssword p@ssw0rd 123456 12345678 123456789 1234567890 qwerty
    qwertyuiop abc123 letmein welcome monkey dragon iloveyou admin administrator login
    master sunshine princess football baseball trustno1 shadow superman batman starwars
    whatever freedom hello secret changeme default zkvault vault github gitlab bitbucket
    correcthorsebatterystaple""")
)
# The most frequent English words and password roots; any of them is one of ~8,000
# guesses (a diceware-sized list), whatever its length.
WORDS = frozenset(
    _words("""the be to of and a in that have it for not on with he as you do at this but his by
    from they we say her she or an will my one all would there their what so up out if
    about who get which go me when make can like time no just him know take people into
    year your good some could them see other than then now look only come its over think
    also back after use two how our work first well way even new want because any these
    give day most us is are was were been has had did said love life world house home
    water light night sun moon star fire earth wind rain snow tree flower river ocean sea
    sky blue red green black white yellow purple orange silver gold summer winter spring
    autumn monday friday sunday january december dog cat bird fish horse lion tiger bear
    wolf eagle dragon monkey apple banana cherry lemon coffee tea pizza beer music happy
    money power magic secret pass word key lock door open close cloud token access admin
    user root test guest hello welcome shadow master battery staple correct table chair
    computer internet phone code coder build deploy server office company team family
    friend baby angel heart soul king queen prince princess knight castle city country
    london paris berlin tokyo america europe football soccer hockey tennis golf game
    player winner super hero batman superman spider man woman girl boy""")
)
KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm", "1234567890", "azertyuiop", "qwertzuiop")
LEET = str.maketrans(
    {"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}
)
_TOKEN = re.compile(r"[A-Za-z]+|[0-9]+|[^A-Za-z0-9]+")
_DATE = re.compile(r"(19|20)[0-9]{2}|[0-3]?[0-9][01]?[0-9](19|20)?[0-9]{2}")


@dataclass(frozen=True)
class Strength:
    guesses_log10: float
    seconds: float
    acceptable: bool
    reason: str | None  # why it is refused, or None

    def to_dict(self) -> dict[str, object]:
        return {
            "guesses_log10": round(self.guesses_log10, 1),
            "seconds": self.seconds,
            "acceptable": self.acceptable,
            "reason": self.reason,
            "crack_time": describe_seconds(self.seconds),
        }


def _is_sequence(s: str) -> bool:
    if len(s) < 3:
        return False
    steps = {ord(b) - ord(a) for a, b in itertools.pairwise(s)}
    return len(steps) == 1 and abs(next(iter(steps))) == 1


def _is_keyboard(s: str) -> bool:
    low = s.lower()
    return len(low) >= 4 and any(low in row or low in row[::-1] for row in KEYBOARD_ROWS)


def _word_guesses(token: str) -> tuple[float, str | None]:
    """log10 guesses for one token, and what pattern made it cheap (if any)."""
    low = token.lower()
    plain = low.translate(LEET)
    case = 0.0 if token in (low, low.capitalize(), token.upper()) else math.log10(2) * 2
    leet = math.log10(2) * sum(1 for a, b in zip(low, plain, strict=True) if a != b)
    if len(low) >= 3 and len(set(low)) == 1:
        return math.log10(len(low) * 100), "repeats one character"
    if _is_sequence(low):
        return math.log10(len(low) * 100), "is an alphabetic or numeric sequence"
    if _is_keyboard(low):
        return math.log10(len(low) * 50), "is a keyboard pattern"
    if plain in COMMON:
        return 2 + case + leet, "contains one of the most common passwords"
    if plain in WORDS:
        return math.log10(8000) + case + leet, "is made of common words"
    if token.isdigit():
        if _DATE.fullmatch(token):
            return math.log10(36_500), "contains a date or year"
        return len(token), None
    if token.isalpha():
        # Unknown letters: English-like text carries ~2.5 bits a character.
        mixed = token not in (low, low.capitalize())
        return len(token) * math.log10(2) * (4.0 if mixed else 2.5), None
    return len(token) * math.log10(33), None


def _repeat_unit(s: str) -> str | None:
    m = re.fullmatch(r"(.+?)\1+", s)
    return m.group(1) if m else None


def _pieces(text: str) -> list[str]:
    """Whitespace-separated words stay whole when they are (leetspeak) dictionary words;
    anything else splits into runs of letters, digits and symbols."""
    pieces: list[str] = []
    for chunk in text.split():
        plain = chunk.lower().translate(LEET)
        if plain.isalpha() and (plain in WORDS or plain in COMMON):
            pieces.append(chunk)
        else:
            pieces.extend(_TOKEN.findall(chunk))
    return pieces


def estimate(passphrase: str, *, kdf_ops: int = 3, kdf_mem_kib: int = 65_536) -> Strength:
    rate = ATTACKER_GUESSES_PER_S * REFERENCE_COST / (kdf_ops * kdf_mem_kib)
    reasons: list[str] = []
    text = passphrase.strip()
    squashed = "".join(text.lower().split())
    if squashed in COMMON or squashed.translate(LEET) in COMMON:
        log_guesses = 2.0
        reasons.append("it is one of the most common passwords")
    else:
        log_guesses = 0.0
        unit = _repeat_unit(text)
        if unit is not None:
            reasons.append("it repeats the same text")
            log_guesses, text = math.log10(len(text) // len(unit) + 1), unit
        pieces = _pieces(text)
        for piece in pieces:
            g, why = _word_guesses(piece)
            log_guesses += g
            if why and f"it {why}" not in reasons:
                reasons.append(f"it {why}")
        # The attacker also has to guess how the pieces are combined.
        log_guesses += math.log10(max(1, len(pieces)))
    seconds = 10**log_guesses / rate
    if len(passphrase) < MIN_LENGTH:
        reasons.insert(0, f"it is shorter than {MIN_LENGTH} characters")
    acceptable = seconds >= MIN_SECONDS and len(passphrase) >= MIN_LENGTH
    reason = None
    if not acceptable:
        why = "; ".join(reasons) if reasons else "it is too short for its mix of characters"
        reason = (
            f"Too weak: {why}. About 10^{log_guesses:.0f} guesses: someone who steals the "
            f"encrypted vault could try them all in {describe_seconds(seconds)}, even at our "
            "Argon2id cost. Use four or more random words, or a longer passphrase."
        )
    return Strength(log_guesses, seconds, acceptable, reason)


def describe_seconds(seconds: float) -> str:
    for unit, size in (
        ("centuries", 3.156e9),
        ("years", 3.156e7),
        ("days", 86_400.0),
        ("hours", 3600.0),
        ("minutes", 60.0),
    ):
        if seconds >= size:
            value = seconds / size
            if unit == "centuries" and value >= 1000:
                return "more than a hundred thousand years"
            return f"about {value:.0f} {unit}"
    return "less than a minute"
