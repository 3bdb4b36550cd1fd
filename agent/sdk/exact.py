"""Wrappers with the decorated function's own parameters, for the calls that need nothing but
their latency and outcome (no sampling, fallback predicate or id alias: what a spec with no
such objective pays for).

Why: a ``(*args, **kwargs)`` wrapper builds a tuple and a dict on every call and unpacks them
again into the user's function, ~50-70 ns on a 2-core CI machine: a fifth of the decorator's
cost (``bench/decorator_parts.py``). A wrapper made from the function's code object takes the
same parameters and passes them on one by one; what it reads are its own globals (cached
lookups), not closure cells copied into every call's frame.

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

import builtins
import inspect
import itertools
import keyword
import linecache
import textwrap
from collections.abc import Callable
from typing import Any

_MISSING: Any = type("_Missing", (), {"__repr__": lambda self: "<missing>"})()

_START = """\
        try:
            try:
                _slo_sh = _slo_tls.shard
            except AttributeError:
                _slo_sh = _slo_local()
            _slo_n = _slo_sh.started + 1
            _slo_sh.started = _slo_n
            RID
            _slo_t0 = _slo_pc()
        except Exception:
            _slo_sdk_error("start")
            FALLBACK
"""

_END = """\
        try:
            _slo_sh.lat.append(_slo_pc() - _slo_t0)
            if not _slo_n & CAP:
                _slo_drain(_slo_sh)
        except Exception:
            _slo_sdk_error("WHERE")
        return _slo_out
"""

_CALL = """\
        try:
            _slo_out = AWAITCALL
        except BaseException as _slo_exc:
            try:
                _slo_failed(_slo_sh, _slo_t0, _slo_exc)
            except Exception:
                _slo_sdk_error("record")
            raise
"""

_STREAM = """\
        try:
            _slo_out = yield from CALL
        except GeneratorExit:
            _slo_closed(_slo_sh, _slo_t0)
            raise
        except BaseException as _slo_exc:
            try:
                _slo_failed(_slo_sh, _slo_t0, _slo_exc)
            except Exception:
                _slo_sdk_error("stream")
            raise
"""

_ASTREAM = """\
        _slo_agen = CALL
        _slo_handoff = None
        try:
            async for _slo_item in _slo_agen:
                try:
                    _slo_sent = yield _slo_item
                except GeneratorExit:
                    await _slo_agen.aclose()
                    raise
                except BaseException as _slo_thrown:
                    _slo_handoff = (_slo_thrown, None)
                    break
                if _slo_sent is not None:
                    _slo_handoff = (None, _slo_sent)
                    break
        except GeneratorExit:
            _slo_closed(_slo_sh, _slo_t0)
            raise
        except BaseException as _slo_exc:
            _slo_raised(_slo_sh, _slo_t0, _slo_exc)
            raise
        if _slo_handoff is None:
            try:
                _slo_sh.lat.append(_slo_pc() - _slo_t0)
                if not _slo_n & CAP:
                    _slo_drain(_slo_sh)
            except Exception:
                _slo_sdk_error("stream")
            return
        _slo_thrown, _slo_sent = _slo_handoff       # a value sent or thrown in: step by step
        try:
            _slo_item = await (_slo_agen.athrow(_slo_thrown) if _slo_thrown is not None else
                               _slo_agen.asend(_slo_sent))
            while True:
                try:
                    _slo_sent = yield _slo_item
                except GeneratorExit:
                    await _slo_agen.aclose()
                    raise
                except BaseException as _slo_in:
                    _slo_item = await _slo_agen.athrow(_slo_in)
                else:
                    _slo_item = await _slo_agen.asend(_slo_sent)
        except StopAsyncIteration:
            _slo_ended(_slo_sh, _slo_n, _slo_t0, _slo_item, (), {})
        except GeneratorExit:
            _slo_closed(_slo_sh, _slo_t0)
            raise
        except BaseException as _slo_exc:
            _slo_raised(_slo_sh, _slo_t0, _slo_exc)
            raise
"""

_AFORWARD = """\
async for _slo_each in FROM:
            yield _slo_each
        return"""

#: form -> (def keyword, how the generic wrapper is handed a call, the start's fallback, body)
_FORMS = {
    "sync": ("def", "return _slo_generic(*_slo_a, **_slo_k)", "return CALL",
             _CALL.replace("AWAITCALL", "CALL") + _END.replace("WHERE", "record")),
    "async": ("async def", "return await _slo_generic(*_slo_a, **_slo_k)", "return await CALL",
              _CALL.replace("AWAITCALL", "await CALL") + _END.replace("WHERE", "record")),
    "generator": ("def", "return (yield from _slo_generic(*_slo_a, **_slo_k))",
                  "return (yield from CALL)", _STREAM + _END.replace("WHERE", "stream")),
    # no ``yield from`` in an async generator: a call that does not fit, or a failed start,
    # has its items forwarded (the generic wrapper raises the TypeError at the first step)
    "async generator": ("async def",
                        _AFORWARD.replace("FROM", "_slo_generic(*_slo_a, **_slo_k)"),
                        _AFORWARD.replace("FROM", "CALL").replace("\n", "\n    "), _ASTREAM),
}


class Params:
    """A function's parameters read from its code object (what binding uses)."""

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


def _fix(params: Params) -> Callable[..., tuple[tuple[Any, ...], dict[str, Any]]]:
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


def exact_wrapper(form: str, fn: Callable[..., Any], generic: Callable[..., Any],
                  env: dict[str, Any]) -> Callable[..., Any] | None:
    """``fn``'s wrapper of ``form`` ("sync", "async", "generator", "async generator") with its
    own parameters,
    or None where its parameters are not understood. ``generic``: the ``(*args, **kwargs)``
    wrapper, for calls that do not fit; ``env``: what the body reads (``tls``, ``local``,
    ``pc``, ``drain``, ``cap``, ``sdk_error``, ``failed``, ``set_rid`` or None; streams:
    ``closed``, ``ended``, ``raised``)."""
    try:
        params = Params(fn)
        names = params.names()
    except Exception:
        return None
    if any(not n.isidentifier() or keyword.iskeyword(n) or n.startswith("_slo_")
           for n in names):
        return None
    kind, to_generic, fallback, body = _FORMS[form]
    call = params.call()
    rid = "_slo_set_rid(_slo_sh.rid_base + _slo_n)" if env.get("set_rid") else "pass"
    # the templates are filled before the user's names join them: a parameter named CALL
    # stays a parameter
    template = (_START.replace("RID", rid).replace("FALLBACK", fallback) + body
                ).replace("CAP", str(int(env["cap"]))).replace("CALL", call)
    bad = params.bad()
    src = (f"{kind} wrapper({params.signature()}):\n"
           + (f"    if {bad}:\n"
              f"        {params.fix()}\n"
              f"        {to_generic}\n" if bad else "")
           + textwrap.indent(textwrap.dedent(template), "    "))
    values = dict(env, fn=fn, generic=generic, fix=_fix(params), M=_MISSING,
                  defaults=params.defaults, kwdefaults=params.kwdefaults)
    # the wrapper's own globals (read by cached LOAD_GLOBAL, no cells copied per call)
    namespace: dict[str, Any] = {"_slo_" + k: values.get(k) for k in _ENV}
    namespace["__builtins__"] = builtins
    made = next(_made)
    filename = f"<slo-agent wrapper of {fn.__qualname__} #{made}>"
    exec(compile(src, filename, "exec"), namespace)
    if made <= MAX_SOURCES:     # a traceback through the wrapper shows its lines
        linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
    wrapper: Callable[..., Any] = namespace["wrapper"]
    code = fn.__code__
    wrapper.__code__ = wrapper.__code__.replace(co_name=code.co_name,
                                                co_qualname=code.co_qualname)
    return wrapper


_made = itertools.count(1)
#: wrappers whose source is kept for tracebacks (a program that decorates functions in a loop
#: must not grow ``linecache`` for good)
MAX_SOURCES = 10_000
_ENV = ("fn", "generic", "fix", "M", "defaults", "kwdefaults", "tls", "local", "pc", "drain",
        "cap", "sdk_error", "failed", "closed", "set_rid", "ended", "raised")
