#!/usr/bin/env python3
"""Print the IRIS PasswordHash value for the password read from stdin.

IRIS keeps a PBKDF2 hash: ``PasswordHash=<hash hex>,<salt hex>,<work factor>,<algorithm>``
([Startup] PasswordHash and ModifyUser PasswordHash in a configuration merge;
InterSystems' passwordhash tool prints the same form). The password is read
from stdin, never from an argument, so no process listing shows it.
"""

import hashlib
import os
import sys

WORK_FACTOR = 10000
ALGORITHM = "SHA512"
SALT_BYTES = 64


def password_hash(password: str, salt: bytes, work_factor: int = WORK_FACTOR) -> str:
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, work_factor)
    return f"{digest.hex()},{salt.hex()},{work_factor},{ALGORITHM}"


def main() -> int:
    password = sys.stdin.read().rstrip("\r\n")
    if not password:
        print("iris-password-hash: empty password on stdin", file=sys.stderr)
        return 1
    print(password_hash(password, os.urandom(SALT_BYTES)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
