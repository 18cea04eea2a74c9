"""The statuses a proxy result can carry and the exception a proxy raises for a known failure
(torch-free, so that every proxy module and helper can import it without a cycle)."""

from __future__ import annotations

from typing import Mapping, Optional

#: Every status a :class:`ProxyResult` can carry, with its meaning. Any status but ``"ok"`` is a
#: failure: its ``value`` is NaN (never ``-inf`` or another number) and ``error`` says why.
STATUSES = {
    "ok": "finite score",
    "error": "the network or the proxy raised an exception",
    "nan": "a non-finite value the proxy did not classify, or non-finite gradients/activations",
    "overflow": "a float64 computation overflowed (e.g. SynFlow's linearised forward)",
    "no_path": "no signal reaches the output (zero SynFlow sum, zero Jacobian, output "
               "independent of the input)",
    "empty_layers": "the network has no layer of the kind the proxy measures",
    "bad_input": "the batch is empty or not floating point, or holds NaN/inf (inputs; targets "
                 "for proxies that read them)",
    "unbatched": "an activation has no dimension that holds the samples (its leading dimension "
                 "is neither the batch, a multiple of it, nor is its second the batch), so "
                 "per-sample patterns cannot be taken",
    "degenerate": "a defined but unrankable case (identical activation codes, an exact "
                  "identity block, an infinite NTK condition number)",
}


class ProxyFailure(Exception):
    """A failure of a known kind; the harness records it as ``status`` (never raised to callers).

    Args:
        status: a key of :data:`STATUSES` other than ``"ok"``/``"error"``.
        message: the reason, in words.
        extra: components computed before the failure (kept in :attr:`ProxyResult.extra`).
    """

    def __init__(self, status: str, message: str, extra: Optional[Mapping[str, float]] = None):
        if status not in STATUSES or status in ("ok", "error"):
            raise ValueError(f"unknown failure status {status!r}; known: {sorted(STATUSES)}")
        super().__init__(message)
        self.status, self.message, self.extra = status, message, dict(extra or {})
