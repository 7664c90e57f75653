"""Password hashing with Argon2id (argon2-cffi) and the rules a new password must meet.

Parameters: OWASP's recommendation for Argon2id (19 MiB, 2 iterations, 1 lane), about 30 ms
here. The parameters are stored in each hash, so raising them later upgrades hashes at login.
"""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from core.errors import InvalidInput

MIN_LENGTH = 10
MAX_LENGTH = 1024  # hashing a megabyte "password" is a way to tie up the server
HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


def check_password_rules(password: str, user_name: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_LENGTH:
        raise InvalidInput(
            f"The password is too short: at least {MIN_LENGTH} characters are needed.",
            hint="a few unrelated words make a long password that is easy to remember",
        )
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"The password is too long: at most {MAX_LENGTH} characters.")
    if "\x00" in password:
        raise InvalidInput("The password contains a NUL character.")
    if password.strip().lower() == user_name.lower():
        raise InvalidInput("The password must not be the user name.")


def hash_password(password: str) -> str:
    return str(HASHER.hash(password))


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches; an unknown user still costs one hash (no timing hint)."""
    if not isinstance(password, str) or len(password) > MAX_LENGTH:
        return False
    try:
        return bool(HASHER.verify(stored or _dummy_hash(), password)) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    try:
        return bool(HASHER.check_needs_rehash(stored))
    except InvalidHashError:
        return True


@functools.cache
def _dummy_hash() -> str:
    return hash_password("not-a-password-of-anyone")
