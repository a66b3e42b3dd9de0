"""Credentials: a namespace's secrets and the principal each names. Bus shard 0 keeps them.

Only a hash of each secret is kept (secrets are 256 random bits, so a plain SHA-256 is enough: there is no
password to guess), and with a ``state_dir`` they are written to ``<state_dir>/<namespace>.credentials``
(owner-only) on every change and read back when the shard restarts. The admin credential is handed out
once, to the first driver that connects; a shard that restarted with nothing stored never hands it out
again (the one it handed out before is lost with it, and so is the namespace's registry)."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

from ._principal import ADMIN, ANONYMOUS, Principal

__all__ = ["CREDENTIALS_ROW", "Credentials"]

CREDENTIALS_ROW = "\x1ecredentials"  # its row in a database's store: no agent's id starts with a control character


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Credentials:
    def __init__(self, path: Path | None, restarted: bool, store: Any = None) -> None:
        """Kept in the file ``path`` (a directory's store), or as a row of the namespace's ``store`` (a
        database's: every node reaches it), or nowhere."""
        self.path = path
        self.store = store
        self.by_digest: dict[str, str] = {}  # digest of a secret → the principal it names
        self.admin_issued = restarted  # a restart that finds nothing stored must not hand admin out again
        stored = None
        if path is not None and path.exists():
            stored = json.loads(path.read_text())
        elif store is not None and (row := store.load(CREDENTIALS_ROW)) is not None:
            stored = row["credentials"]
        if stored is not None:
            self.by_digest, self.admin_issued = stored["principals"], stored["admin_issued"]

    def issue_admin(self) -> str | None:
        """The admin credential, to the first who asks, never again (None). No await may come between the
        check and the mark: the bus shard runs this on its one event loop thread, so it is race-free."""
        if self.admin_issued:
            return None
        self.admin_issued = True
        return self.grant(ADMIN)

    def grant(self, principal: Principal) -> str:
        """A new secret naming ``principal`` (one principal may hold several)."""
        if principal == ANONYMOUS:
            raise ValueError("anonymous is the principal of a driver without a credential: it is not granted")
        secret = secrets.token_urlsafe(32)
        self.by_digest[_digest(secret)] = str(principal)
        self._save()
        return secret

    def forget_all(self) -> None:
        """The namespace is destroyed: no secret names anyone any more, and the admin may be handed out anew."""
        self.by_digest, self.admin_issued = {}, False
        self._save()

    def revoke(self, principal: Principal) -> int:
        """Forget every secret naming ``principal``; how many there were."""
        if principal.is_admin:
            raise ValueError("the admin principal cannot be revoked: the namespace would have no admin left")
        doomed = [digest for digest, named in self.by_digest.items() if named == str(principal)]
        for digest in doomed:
            del self.by_digest[digest]
        self._save()
        return len(doomed)

    def principal_of(self, secret: str | None) -> str | None:
        """The principal ``secret`` names; anonymous for no secret; None for one never granted or revoked."""
        return str(ANONYMOUS) if secret is None else self.by_digest.get(_digest(secret))

    def _save(self) -> None:
        kept = {"admin_issued": self.admin_issued, "principals": self.by_digest}
        if self.store is not None:  # a rare change: written at once, on the shard's loop
            self.store.save_many({CREDENTIALS_ROW: {"credentials": json.dumps(kept)}})
        if self.path is None:
            return
        temporary = self.path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({"admin_issued": self.admin_issued, "principals": self.by_digest}, out)
        temporary.replace(self.path)
