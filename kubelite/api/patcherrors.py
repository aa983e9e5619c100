"""The typed errors of patch application (`kubelite.api.patch` and `kubelite.api.strategic`).

They live in their own module so that the patch entry point and the strategic merge patch
algorithm can both raise them without importing each other. Each class says which HTTP status
the API server answers it with; the mapping itself happens once, in the API server's error
module, which dispatches on these classes:

===============================  =====  =====================  ==============================
class                            code   reason                 upstream source of the choice
===============================  =====  =====================  ==============================
`MalformedPatchError`            400    BadRequest             bad JSON, bad directive format
`PatchNotApplicableError`        422    Invalid                jsonpatch apply errors, SMP
                                                               list-of-lists and similar
`TooManyPatchOperationsError`    413    RequestEntityTooLarge  more than 10000 JSON patch ops
`UnsupportedPatchTypeError`      415    UnsupportedMediaType   unknown Content-Type, or SMP
                                                               on a kind without merge keys
===============================  =====  =====================  ==============================

Upstream answers several strategic-merge-patch errors with a bare 500; we give them a 400 or
422 instead, because a bad request must never look like a server fault.
"""

from __future__ import annotations


class PatchError(Exception):
    """Base class: the patch could not be applied. ``str(error)`` is the client-facing message."""


class MalformedPatchError(PatchError):
    """The patch body is not a well-formed patch of its type (HTTP 400 BadRequest)."""


class PatchNotApplicableError(PatchError):
    """A well-formed patch that cannot be applied to this object (HTTP 422 Invalid).

    Examples: a JSON patch ``remove`` of a missing path, a failed ``test`` operation, a strategic
    merge patch that merges a list whose items are lists.
    """


class TooManyPatchOperationsError(PatchError):
    """A JSON patch with more operations than the API server accepts (HTTP 413)."""

    def __init__(self, count: int, limit: int) -> None:
        super().__init__(f"The allowed maximum operations in a JSON patch is {limit}, got {count}")
        self.count = count
        self.limit = limit


class UnsupportedPatchTypeError(PatchError):
    """The Content-Type is not a patch type we accept for this kind (HTTP 415).

    ``accepted`` lists the media types that would have been accepted, for the Status message.
    """

    def __init__(self, content_type: str, accepted: tuple[str, ...]) -> None:
        super().__init__(
            f"the body of the request was in an unknown format - accepted media types "
            f"include: {', '.join(accepted)}"
        )
        self.content_type = content_type
        self.accepted = accepted
