"""Username rules: what a name may contain and when two names are the same."""

import unicodedata

MAX_LENGTH = 32
# "all" addresses everyone in the socket protocol, so nobody may be called that.
RESERVED = frozenset({"all"})
_PUNCTUATION = frozenset("_-.")


def normalize(name):
    """Return ``name`` stripped and in Unicode NFC, the spelling we store and show."""
    return unicodedata.normalize("NFC", name.strip())


def name_key(name):
    """Return the key under which names are unique: NFC, then casefolded.

    Casefolding can leave a string unnormalised, hence the second NFC.
    """
    return unicodedata.normalize("NFC", normalize(name).casefold())


def _allowed(char, first):
    category = unicodedata.category(char)
    if category.startswith("L") or category == "Nd" or char in _PUNCTUATION:
        return True
    # Combining marks (Devanagari vowel signs, ...) belong to the letter before them.
    return category.startswith("M") and not first


def validation_error(name):
    """Return why ``name`` (already normalised) cannot be a username, or None."""
    if not 1 <= len(name) <= MAX_LENGTH:
        return f"Usernames are 1 to {MAX_LENGTH} characters long."
    if not all(_allowed(char, index == 0) for index, char in enumerate(name)):
        return "Use only letters, digits, '_', '-' and '.'."
    if name_key(name) in RESERVED:
        return f"'{name}' is reserved."
    return None
