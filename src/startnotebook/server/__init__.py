"""The side of startnotebook that runs in the job: the session's Jupyter server.

    python -P -m startnotebook.server LAUNCH/jupyter_config.json

Everything here runs on the compute node, maybe inside a container image that has Jupyter but not
this package's dependencies: it imports only Jupyter, the standard library and ``records``.
"""

import hashlib
import hmac

#: The variable through which the job script tells the server its node's address (found outside
#: any container, whose name service may not know the node).
NODE_ADDRESS_VARIABLE = "STARTNOTEBOOK_NODE_ADDRESS"
#: A timeout (the kernel culler's, the notebook timeout) is checked at least this often, in
#: seconds, so that it fires well within 15 s of its deadline.
CHECK_INTERVAL_MAX = 5


def check_interval(timeout: int) -> int:
    """How often a timeout of ``timeout`` seconds is checked."""
    return min(CHECK_INTERVAL_MAX, max(1, timeout // 2))


def sha256_fingerprint(der: bytes) -> str:
    """A certificate's SHA-256 fingerprint as browsers show it (AB:CD:...)."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


#: Where a session's server proves, without login, that it is the session's (server/app.py).
PROOF_PATH = "/startnotebook/api/proof"
#: How `startnotebook stop` ends a session: cleanly, as its server does every end (clean_end.py).
STOP_PATH = "/startnotebook/api/stop?reason=stopped+with+startnotebook+stop"
#: The longest nonce (in bytes) a client may send; ours send NONCE_BYTES.
NONCE_MAX_BYTES = 64
NONCE_BYTES = 32


def proof_of(key: bytes, nonce: bytes, launch: str) -> str:
    """The answer to a challenge: HMAC-SHA256 of the nonce and the launch id, under the launch's
    proof key (in its 0600 record; only the job and the user can read it)."""
    return hmac.new(key, nonce + launch.encode(), hashlib.sha256).hexdigest()
