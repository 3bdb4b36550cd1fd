"""Every ``@monitor.inference`` wrapper of a sync, async, generator or async-generator function is
made here, from one set of source templates: a fix to a call's bookkeeping or to the stream
protocol is made once, for every form and every option.

A template is filled at decoration with what the wrapper needs and nothing else (the request id
only where something reads it, per-item timing only where a stream's objective uses it, the cold
part only where the spec samples, aliases ids or has a fallback predicate), with the decorated
function's constants folded in (the buffer's cap, the sampling stride), and with one of two
parameter lists (:mod:`agent.sdk.params`): the function's own, or ``(*args, **kwargs)``. What the
code reads are its own globals (cached lookups), not closure cells copied into every call's frame.

A call costs one thread-local lookup, a call count, two clock reads and one append to the
thread's buffer; buckets, sum and sketch are built from the buffer off the caller's thread. The
user's function is called exactly once with its own arguments, its exceptions are re-raised
untouched (same object, same traceback), and every SDK step is guarded: the SDK never raises
into user code.

A stream is timed as one call from its first step to its end: the time to its first item and
each gap after it go to the thread's buffers (one clock read and one append per item); its
latency, outcome and cold part (``prediction=`` / a callable ``fallback=`` get the last item) are
recorded once, at its end. Where nothing is wanted per item, a generator is handed to ``yield
from``, which forwards items, ``send()``, ``throw()``, ``close()`` and the return value in C.
Otherwise the stream is iterated with a ``for`` loop (its end costs no exception in Python);
``send()`` of a value and ``throw()`` hand the rest of it to a step-by-step loop that forwards
them, and so does, from the start, a generator function that may ``return`` a value.

One form has a compiled path: an async generator whose calls need only latency and outcome is
stepped in C (:mod:`agent.sdk._streams`, built by ``setup.py`` where a compiler is), because a
second async generator per stream costs about 0.4x of prometheus_client's whole decorator before
it records anything (asyncio's first-iteration hook runs for it too). It does this module's
bookkeeping steps on the same objects, in the same order; ``tests/sdk/test_async_streams.py``
holds it equal to the template-made wrapper, which every other case (and an install without the
compiled part) uses.
"""

from __future__ import annotations

import builtins
import dis
import functools
import itertools
import keyword
import linecache
from collections.abc import Callable
from types import CodeType, ModuleType
from typing import Any

from agent.sdk.params import _MISSING, Generic, Params, rebuild
from agent.sdk.values import BUFFER_CAP

_streams: ModuleType | None
try:    # built by setup.py where a compiler is; without it every form is pure Python
    import agent.sdk._streams as _streams
except ImportError:
    _streams = None

# Templates: a line that is only a NAME is a hole for a snippet (indented to the hole's place,
# removed where empty); a NAME inside a line is a word, filled last.

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
    FORWARD
"""

# the user's function called (a stream: made, or handed to ``yield from``)
_CALL = """\
try:
    TARGET = CALL
CLOSED
RAISED
"""

# a stream stopped early by its consumer: still a call
_CLOSED = """\
except GeneratorExit:
    try:
        _slo_sh.lat.append(_slo_pc() - _slo_t0)
    except Exception:
        _slo_sdk_error("stream")
    raise
"""

# the user's exception (cancellation included) recorded, then re-raised as it was
_RAISED = """\
except BaseException as _slo_exc:
    try:
        _slo_failed(_slo_sh, _slo_t0, _slo_exc)
    except Exception:
        _slo_sdk_error("WHERE")
    raise
"""

_END = """\
try:
    _slo_sh.lat.append(_slo_pc() - _slo_t0)
    if DRAIN:
        _slo_drain(_slo_sh)
    COLD
except Exception:
    _slo_sdk_error("WHERE")
"""

_TIMER = """\
try:
    _slo_now = _slo_pc()
    if _slo_last:
        _slo_sh.gaps.append(_slo_now - _slo_last)
    else:
        _slo_sh.ttfts.append(_slo_now - _slo_t0)
    _slo_last = _slo_now
except Exception:
    _slo_sdk_error("stream")
"""

# an item handed to the consumer (the ``try`` goes on where the hole is: what it throws in)
_YIELD = """\
try:
    _slo_sent = yield _slo_item
except GeneratorExit:
    AWAIT_slo_gen.CLOSE()
    raise
"""

# the stream's items in a ``for`` loop until a value is sent or thrown in
_LOOP = """\
_slo_handoff = None
try:
    FOR _slo_item in _slo_gen:
        TIMER
        YIELD
        except BaseException as _slo_thrown:
            _slo_handoff = (_slo_thrown, None)
            break
        if _slo_sent is not None:
            _slo_handoff = (None, _slo_sent)
            break
CLOSED
RAISED
if _slo_handoff is None:
    END
    return
_slo_thrown, _slo_sent = _slo_handoff       # a value sent or thrown in: the rest step by step
"""

_STREAM = """\
CREATE
_slo_item = None
_slo_last = 0.0
LOOP
try:
    _slo_item = AWAIT(_slo_gen.THROW(_slo_thrown) if _slo_thrown is not None else
                      _slo_gen.SEND(_slo_sent))
    TIMER
    while True:
        YIELD
        except BaseException as _slo_thrown:
            _slo_item = AWAIT_slo_gen.THROW(_slo_thrown)
        else:
            _slo_item = AWAIT_slo_gen.SEND(_slo_sent)
        TIMER
except STOP:
    END
    RESULT
CLOSED
RAISED
"""

#: form -> (def keyword, how a call is handed on whole: FWD, the callee)
_FORWARD = {
    "sync": ("def", "return FWD"),
    "async": ("async def", "return await FWD"),
    "generator": ("def", "return (yield from FWD)"),
    # no ``yield from`` in an async generator: its items are forwarded
    "async generator": ("async def", "async for _slo_each in FWD:\n    yield _slo_each\nreturn"),
}

#: the stream protocol's words, generator / async generator
_WORDS = {
    "generator": {"FOR": "for", "AWAIT": "", "CLOSE": "close", "THROW": "throw", "SEND": "send",
                  "STOP": "StopIteration as _slo_stop", "RESULT": "return _slo_stop.value"},
    "async generator": {"FOR": "async for", "AWAIT": "await ", "CLOSE": "aclose",
                        "THROW": "athrow", "SEND": "asend", "STOP": "StopAsyncIteration",
                        "RESULT": ""},
}


def _fill(template: str, **holes: str) -> str:
    """``template`` with each hole line replaced by its snippet, indented to the hole's place."""
    out: list[str] = []
    for line in template.splitlines(keepends=True):
        name = line.strip()
        if name in holes:
            pad = line[:len(line) - len(line.lstrip())]
            out += [pad + each if each.strip() else each
                    for each in holes[name].splitlines(keepends=True)]
            if out and not out[-1].endswith("\n"):
                out[-1] += "\n"
        else:
            out.append(line)
    return "".join(out)


def source(form: str, params: Params | Generic, *, track: bool, timed: bool = False,
           cold: tuple[bool, int] = (False, 0), explicit: bool = False) -> str:
    """The wrapper's code: ``cold`` (every call, every n-th call) hands the cold part its
    arguments (``(*args, **kwargs)`` only); ``timed``: a stream's items are timed; ``explicit``:
    a generator function that may return a value (step by step from its start)."""
    every, stride = cold
    kind, forward = _FORWARD[form]
    stream = form in _WORDS
    looped = form == "async generator" or (stream and (timed or every or stride))
    last = "_slo_item" if looped else "_slo_out"
    after = f"_slo_after(_slo_n, _slo_a, _slo_k, {last}, _slo_sh)"
    if (every or stride) and params.own:
        raise ValueError("the cold part takes the arguments as given: (*args, **kwargs) only")
    end = _fill(_END, COLD=after if every else
                f"if not _slo_n % {int(stride)}:\n    {after}" if stride else "")
    end = end.replace("DRAIN", "len(_slo_sh.gaps) > CAP or not _slo_n & CAP" if timed
                      else "not _slo_n & CAP")
    start = _fill(_START, RID="_slo_set_rid(_slo_sh.rid_base + _slo_n)" if track else "",
                  FORWARD=forward.replace("FWD", "CALL"))
    if looped:
        timer = _TIMER if timed else ""
        loop = "_slo_thrown = _slo_sent = None" if explicit else \
            _fill(_LOOP, TIMER=timer, YIELD=_YIELD, CLOSED=_CLOSED, RAISED=_RAISED, END=end)
        body = _fill(_STREAM, CREATE=_fill(_CALL, CLOSED="", RAISED=_RAISED), LOOP=loop,
                     TIMER=timer, YIELD=_YIELD, END=end, CLOSED=_CLOSED, RAISED=_RAISED)
        for word, value in _WORDS[form].items():
            body = body.replace(word, value)
        body = body.replace("TARGET", "_slo_gen")
    else:
        body = _fill(_CALL, CLOSED=_CLOSED if stream else "", RAISED=_RAISED) + end + \
            "return _slo_out\n"
        call = {"async": "await CALL", "generator": "yield from CALL"}.get(form, "CALL")
        body = body.replace("TARGET = CALL", f"_slo_out = {call}")
    template = (start + body).replace("WHERE", "stream" if stream else "record") \
        .replace("CAP", str(BUFFER_CAP - 1))
    # the templates are filled before the user's names join them: a parameter named CALL stays
    # a parameter
    code = template.replace("CALL", params.call())
    if isinstance(params, Params) and (bad := params.bad()):    # a call that does not fit
        code = (f"if {bad}:\n    {params.fix()}\n"
                + _fill("    FWD\n", FWD=forward).replace("FWD", "_slo_generic(*_slo_a, **_slo_k)")
                + code)
    lines = code.splitlines(keepends=True)
    return f"{kind} wrapper({params.signature()}):\n" + "".join(
        "    " + line if line.strip() else line for line in lines)


def make_wrapper(form: str, fn: Callable[..., Any], env: dict[str, Any], own: bool, *,
                 track: bool, timed: bool = False, cold: tuple[bool, int] = (False, 0),
                 explicit: bool = False) -> Callable[..., Any] | None:
    """``fn``'s wrapper of ``form`` ("sync", "async", "generator", "async generator"); ``own``:
    with its own parameters (None where they are not understood), else ``(*args, **kwargs)``.
    ``env``: what the code reads (``tls``, ``local``, ``pc``, ``drain``, ``sdk_error``,
    ``failed``, ``set_rid``, ``after``; with ``own``: ``generic``, the wrapper for calls that do
    not fit)."""
    if own and form == "async generator" and _streams is not None:
        return _stepped(fn, env, track)
    params: Params | Generic = Generic()
    values = dict(env, fn=fn)
    if own:
        try:
            params = Params(fn)
            names = params.names()
        except Exception:
            return None
        if any(not n.isidentifier() or keyword.iskeyword(n) or n.startswith("_slo_")
               for n in names):
            return None
        values.update(fix=rebuild(params), M=_MISSING, defaults=params.defaults,
                      kwdefaults=params.kwdefaults)
    src = source(form, params, track=track, timed=timed, cold=cold, explicit=explicit) if own \
        else _generic_source(form, track, timed, cold, explicit)
    namespace: dict[str, Any] = {"_slo_" + k: v for k, v in values.items()}
    namespace["__builtins__"] = builtins
    made = next(_made)
    kind = "wrapper" if own else "generic wrapper"
    filename = f"<slo-agent {kind} of {getattr(fn, '__qualname__', '?')} #{made}>"
    exec(_compiled(src), namespace)
    if made <= MAX_SOURCES:     # a traceback through the wrapper shows its lines
        linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
    wrapper: Callable[..., Any] = namespace["wrapper"]
    code = wrapper.__code__.replace(co_filename=filename)
    if own:
        code = code.replace(co_name=fn.__code__.co_name, co_qualname=fn.__code__.co_qualname)
    wrapper.__code__ = code
    return wrapper


def _stepped(fn: Callable[..., Any], env: dict[str, Any], track: bool) -> Callable[..., Any]:
    """An async-generator function's wrapper stepped in C (:mod:`agent.sdk._streams`): the
    templates' bookkeeping on the same objects, without a second generator per stream. What
    ``inspect`` reads of it (kind, signature, ``__code__``) is the user's function's."""
    assert _streams is not None
    stepped = _streams.Fn(fn, env["generic"], env["tls"], env["local"], env["pc"],
                          env["drain"], env["failed"], env["sdk_error"],
                          env["set_rid"] if track else None, BUFFER_CAP - 1)
    stepped.__code__ = fn.__code__
    stepped.__defaults__, stepped.__kwdefaults__ = fn.__defaults__, fn.__kwdefaults__
    return stepped


@functools.lru_cache(maxsize=256)
def _generic_source(form: str, track: bool, timed: bool, cold: tuple[bool, int],
                    explicit: bool) -> str:
    return source(form, Generic(), track=track, timed=timed, cold=cold, explicit=explicit)


@functools.lru_cache(maxsize=512)
def _compiled(src: str) -> CodeType:
    """A wrapper's code compiled once per source: the ``(*args, **kwargs)`` wrappers of a form
    and its options are all the same text, and compiling is most of a decoration's cost."""
    return compile(src, "<slo-agent wrapper>", "exec")


def returns_value(fn: Callable[..., Any]) -> bool:
    """Whether a generator function may ``return`` something other than None (read from its
    bytecode; anything not understood counts as yes)."""
    try:
        code = fn.__code__
        ops = list(dis.get_instructions(code))
    except Exception:
        return True
    for prev, op in zip([None, *ops], ops, strict=False):
        if op.opname == "RETURN_CONST" and op.argval is not None:
            return True
        if op.opname == "RETURN_VALUE" and not (
                prev is not None and prev.opname == "LOAD_CONST" and prev.argval is None):
            return True
    return False


_made = itertools.count(1)
#: wrappers whose source is kept for tracebacks (a program that decorates functions in a loop
#: must not grow ``linecache`` for good)
MAX_SOURCES = 10_000
