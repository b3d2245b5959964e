"""The two halves of the request-n handshake: Subscription and Subscriber."""

from __future__ import annotations

from abc import abstractmethod
from typing import Protocol, TypeVar

from reactivex import abc

_T_contra = TypeVar("_T_contra", contravariant=True)


class Subscription(abc.DisposableBase):
    """The link between one subscriber and its source.

    ``request(n)`` adds ``n`` to the demand; ``cancel()`` (or ``dispose()``) ends the link.
    Neither ever raises: a bad ``n`` reaches the subscriber as ``on_error``.
    """

    __slots__ = ()

    @abstractmethod
    def request(self, n: int) -> None:
        """Allow ``n`` more items to be delivered (additive, saturating at UNBOUNDED)."""

    @abstractmethod
    def cancel(self) -> None:
        """Stop the flow of items and release the subscriber. Idempotent."""

    def dispose(self) -> None:
        """Same as :meth:`cancel`, so a Subscription is a reactivex disposable."""
        self.cancel()


class Subscriber(Protocol[_T_contra]):
    """An observer that takes part in request-n demand.

    ``on_subscribe`` is called before any other signal; items then arrive only against
    ``subscription.request(n)``.
    """

    def on_subscribe(self, subscription: Subscription) -> None: ...

    def on_next(self, value: _T_contra) -> None: ...

    def on_error(self, error: Exception) -> None: ...

    def on_completed(self) -> None: ...


def is_subscriber(candidate: object) -> bool:
    """Whether ``candidate`` has the subscriber shape (a callable ``on_subscribe`` too)."""
    return all(
        callable(getattr(candidate, name, None))
        for name in ("on_subscribe", "on_next", "on_error", "on_completed")
    )
