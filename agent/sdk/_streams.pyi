"""Types of the compiled part (``_streams.c``): the async-generator form stepped in C."""

from collections.abc import AsyncGenerator, Callable
from typing import Any

class Fn:
    """A monitored async-generator function (see ``_streams.c``)."""

    __code__: Any
    __defaults__: tuple[Any, ...] | None
    __kwdefaults__: dict[str, Any] | None

    def __init__(self, fn: Callable[..., AsyncGenerator[Any, Any]],
                 generic: Callable[..., AsyncGenerator[Any, Any]], tls: Any,
                 local: Callable[[], Any], pc: Callable[[], float],
                 drain: Callable[[Any], None], failed: Callable[[Any, float, BaseException], None],
                 sdk_error: Callable[[str], None], set_rid: Callable[[int], Any] | None,
                 cap: int, /) -> None: ...
    def __call__(self, *args: Any, **kwargs: Any) -> Stream: ...

class Stream(AsyncGenerator[Any, Any]):
    """A call of a monitored async-generator function: the user's generator, stepped."""

    async def __anext__(self) -> Any: ...
    async def asend(self, value: Any, /) -> Any: ...
    async def athrow(self, *args: Any) -> Any: ...
    async def aclose(self) -> None: ...

class Step:
    """One step of a Stream: what its __anext__, asend, athrow and aclose return."""
