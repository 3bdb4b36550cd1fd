"""The two parameter lists a wrapper's source is made with (:mod:`agent.sdk.wrappers`): the
decorated function's own, for the calls that need nothing but their latency and outcome (no
sampling, fallback predicate or id alias: what a spec with no such objective pays for), and
``(*args, **kwargs)`` for every other call.

Why the function's own: a ``(*args, **kwargs)`` wrapper builds a tuple and a dict on every call
and unpacks them again into the user's function, ~50-70 ns on a 2-core CI machine: a fifth of the
decorator's cost (``bench/decorator_parts.py``). A wrapper made from the function's code object
takes the same parameters and passes them on one by one.

Binding is kept as it was: a call with arguments the function cannot take is still the call's
error, recorded by the generic wrapper. Each required parameter defaults to a private marker,
extra positional arguments and unknown keywords are caught; any of those sends the call to the
generic wrapper, where the user's function raises its own TypeError. Only a value given twice
(``f(1, x=2)`` for ``f(x)``) is refused by binding itself, before the call starts, so it is not
recorded; the wrapper's code carries the function's name, so the message reads as the
function's own.

Made only for plain functions whose parameters are all understood; anything else (a builtin, a
callable object, a parameter named ``_slo_*``) keeps the generic wrapper.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

_MISSING: Any = type("_Missing", (), {"__repr__": lambda self: "<missing>"})()


class Generic:
    """``(*args, **kwargs)``: any call fits (the user's function binds, and raises its own
    TypeError as the call's error); the cold part gets the arguments as given."""

    own = False

    def signature(self) -> str:
        return "*_slo_a, **_slo_k"

    def call(self) -> str:
        return "(_slo_fn(*_slo_a, **_slo_k) if _slo_k else _slo_fn(*_slo_a))"  # no dict per call


class Params:
    """A function's parameters read from its code object (what binding uses)."""

    own = True

    def __init__(self, fn: Callable[..., Any]) -> None:
        code = fn.__code__
        self.posonly = code.co_posonlyargcount
        n_pos, n_kw = code.co_argcount, code.co_kwonlyargcount
        names = code.co_varnames
        self.pos: tuple[str, ...] = names[:n_pos]
        self.kwonly: tuple[str, ...] = names[n_pos:n_pos + n_kw]
        at = n_pos + n_kw
        self.varargs = names[at] if code.co_flags & inspect.CO_VARARGS else None
        at += self.varargs is not None
        self.varkw = names[at] if code.co_flags & inspect.CO_VARKEYWORDS else None
        defaults = fn.__defaults__ or ()
        self.required = self.pos[:n_pos - len(defaults)]
        self.kw_required = tuple(n for n in self.kwonly if n not in (fn.__kwdefaults__ or {}))
        self.defaults = defaults
        self.kwdefaults = dict(fn.__kwdefaults__ or {})

    def names(self) -> tuple[str, ...]:
        return tuple(n for n in (*self.pos, *self.kwonly, self.varargs, self.varkw)
                     if n is not None)

    def signature(self) -> str:
        """The wrapper's parameters: required ones default to the marker, extras caught."""
        first_default = len(self.pos) - len(self.defaults)
        out = []
        for i, name in enumerate(self.pos):
            out.append(f"{name}=_slo_M" if i < first_default
                       else f"{name}=_slo_defaults[{i - first_default}]")
            if i + 1 == self.posonly:
                out.append("/")
        out.append(f"*{self.varargs}" if self.varargs else "*_slo_more")
        out += [f"{n}=_slo_M" if n in self.kw_required else f"{n}=_slo_kwdefaults[{n!r}]"
                for n in self.kwonly]
        out.append(f"**{self.varkw}" if self.varkw else "**_slo_kw")
        return ", ".join(out)

    def call(self) -> str:
        """The user's function called with the wrapper's parameters, one by one."""
        args = list(self.pos)
        if self.varargs:
            args.append(f"*{self.varargs}")
        args += [f"{n}={n}" for n in self.kwonly]
        if self.varkw:
            args.append(f"**{self.varkw}")
        return f"_slo_fn({', '.join(args)})"

    def bad(self) -> str:
        """True where the call's arguments did not fit the function."""
        tests = [f"{n} is _slo_M" for n in (*self.required, *self.kw_required)]
        if not self.varargs:
            tests.append("_slo_more")
        if not self.varkw:
            tests.append("_slo_kw")
        return " or ".join(tests)

    def fix(self) -> str:
        """The call's arguments as given, for the generic wrapper."""
        pos = "".join(f"{n}, " for n in self.pos)
        kwonly = ", ".join(f"{n!r}: {n}" for n in self.kwonly)
        return (f"_slo_a, _slo_k = _slo_fix(({pos}), {self.varargs or '_slo_more'}, "
                f"{{{kwonly}}}, {self.varkw or '_slo_kw'})")


def rebuild(params: Params) -> Callable[..., tuple[tuple[Any, ...], dict[str, Any]]]:
    """Rebuild a call that did not fit, as it was given: positional values up to the first one
    missing, the rest by keyword; a value that is its parameter's own default was not given
    (a positional-only one after a gap cannot have been)."""
    first_default = len(params.pos) - len(params.defaults)
    own = {name: params.defaults[i - first_default]
           for i, name in enumerate(params.pos) if i >= first_default}
    own.update(params.kwdefaults)

    def fix(pos: tuple[Any, ...], more: tuple[Any, ...], kwonly: dict[str, Any],
            kw: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        given = list(zip(params.pos, pos, strict=True))
        while not more and given and (given[-1][1] is _MISSING or
                                      given[-1][1] is own.get(given[-1][0], _MISSING)):
            given.pop()                 # trailing defaults: not given (extras: all were)
        gap = False
        for i, (name, value) in enumerate(given):
            if value is _MISSING:
                gap = True
            elif not gap:
                args.append(value)
            elif i >= params.posonly and value is not own.get(name, _MISSING):
                kwargs[name] = value
        args += more
        kwargs.update((k, v) for k, v in kwonly.items()
                      if v is not _MISSING and not (k in own and v is own[k]))
        kwargs.update(kw)
        return tuple(args), kwargs
    return fix
