/* The async-generator form of @monitor.inference, stepped in C.

   Why C: a wrapper written as an async generator costs about 0.4x of prometheus_client's whole
   decorator before it records anything (bench/decorator_parts.py), because every item passes
   through a second generator frame and asyncio's first-iteration hook runs for that one too.
   No pure-Python design that sees a stream's end gets under 0.3x on Python 3.11.

   Fn is the decorated function. A call makes the user's async generator (the function's own
   binding, no argument tuple or dict) and returns a Stream over it; a call the function cannot
   bind goes to the pure-Python wrapper ("generic"), which raises it at the first step as a
   recorded call, as every other form does. A Stream passes each step of the generator on (the
   awaitables of __anext__, asend, athrow and aclose, stepped with PyIter_Send) and looks only
   at how a step ended. Fn is function-like to inspect (as Cython's functions are), so
   inspect.isasyncgenfunction and inspect.signature read as on the user's function.

   The call's bookkeeping is the templates' (agent/sdk/wrappers.py: _START, _END, _CLOSED,
   _RAISED) done here with the same objects and in the same order: at the first step, the
   thread's shard (tls.shard, else local()), started += 1, the request id where tracked, t0 =
   pc(); at the end, lat.append(pc() - t0) and drain(sh) every cap + 1 calls; closed early, the
   latency only; raised, failed(sh, t0, exc). A failure of the SDK's own steps (an Exception) is
   handed to sdk_error(where) as the exception being handled, and the stream goes on; the user's
   exception is re-raised untouched (same object, same traceback, no frame of ours in it).
   tests/sdk/test_async_streams.py holds the two equal, step by step, against the templates. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stddef.h>

enum { FRESH, OPEN, DONE };             /* a stream's call: not begun, being timed, not timed */
enum { NEXT, SEND, THROW, CLOSE };      /* a step: __anext__ or asend(None), asend(v), athrow,
                                           aclose */
enum { ENDED, CLOSED, RAISED };         /* how a call ended */

static PyObject *s_shard, *s_started, *s_rid_base, *s_lat, *s_start, *s_stream, *s_asend,
                *s_athrow, *s_aclose, *s_throw, *s_close, *s_qualname;

typedef struct {
    PyObject_HEAD
    PyObject *fn;           /* the user's async-generator function */
    PyObject *generic;      /* the pure-Python wrapper, for calls fn cannot bind */
    PyObject *tls, *local, *pc, *drain, *failed, *sdk_error, *set_rid;     /* set_rid: None
                                                                               where untracked */
    long long cap;
    int native;             /* pc is time.perf_counter: read its clock here */
    PyObject *dict;         /* __wrapped__, __name__, __code__ (the user's), ... */
    vectorcallfunc vectorcall;
} Fn;

typedef struct {
    PyObject_HEAD
    PyObject *agen;
    Fn *fn;
    PyObject *sh;           /* the shard, while the call is open */
    PyObject *t0;           /* pc()'s value, where pc is not time.perf_counter */
    double t0d;             /* else this */
    long long n;
    int state;
    int running;            /* a step of ours is under way */
} Stream;

typedef struct {
    PyObject_HEAD
    Stream *stream;
    PyObject *inner;        /* the generator's own awaitable for this step */
    int kind;
    int started;
    int mine;               /* this step set stream->running */
    int quiet;              /* overlapped another step, or finished: not the call's step */
} Step;

static PyTypeObject StreamType, StepType, FnType;

/* time.perf_counter(), read as it reads it (the same double), where pc is that function */
static PyObject *perf_counter;

static double
clock_now(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    PyTime_t t;
    if (PyTime_PerfCounterRaw(&t) < 0)
        t = 0;
    return PyTime_AsSecondsDouble(t);
#else
    return _PyTime_AsSecondsDouble(_PyTime_GetPerfCounter());
#endif
}

/* Freed steps kept for the next (as CPython keeps its own asend objects): a stream of one
   item takes two. (Not streams: a reused object would not be finalised again.) */
#define KEEP 16
#if PY_VERSION_HEX < 0x030D0000
#define FREELISTS 1
#endif

static int
no_keywords(const char *name, PyObject *kwargs)
{
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0) {
        PyErr_Format(PyExc_TypeError, "%s() takes no keyword arguments", name);
        return -1;
    }
    return 0;
}

/* -- the bookkeeping --------------------------------------------------------------------- */

/* The shard's ``started`` and ``lat`` are __slots__: read and written at their offsets, as
   Python's own specialised attribute access does, while the type is the one they were found on
   and unchanged (its version tag). Anything else goes through getattr and setattr. */
static struct {
    PyTypeObject *type;         /* borrowed: a freed type's tag is never given again */
    unsigned int tag;
    Py_ssize_t started, lat;
} shard_slots;

static Py_ssize_t
member_offset(PyTypeObject *type, PyObject *name)
{
    PyObject *d = _PyType_Lookup(type, name);
    if (d != NULL && Py_IS_TYPE(d, &PyMemberDescr_Type)) {
        PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
        if (m->type == T_OBJECT_EX && !(m->flags & READONLY))
            return m->offset;
    }
    return -1;
}

/* the slot of ``name`` (s_started or s_lat) in ``sh``, or NULL: use getattr */
static PyObject **
slot(PyObject *sh, PyObject *name)
{
    PyTypeObject *type = Py_TYPE(sh);
    Py_ssize_t at;
    if (type != shard_slots.type || type->tp_version_tag != shard_slots.tag
            || !(type->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG)) {
        shard_slots.started = member_offset(type, s_started);
        shard_slots.lat = member_offset(type, s_lat);
        shard_slots.type = (type->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG) ? type : NULL;
        shard_slots.tag = type->tp_version_tag;
    }
    at = name == s_started ? shard_slots.started : shard_slots.lat;
    if (at < 0 || *(PyObject **)((char *)sh + at) == NULL)
        return NULL;
    return (PyObject **)((char *)sh + at);
}

static PyObject *
get_slot(PyObject *sh, PyObject *name)
{
    PyObject **at = slot(sh, name);
    return at != NULL ? Py_NewRef(*at) : PyObject_GetAttr(sh, name);
}

/* The SDK's own step failed with the exception set: an Exception is counted by sdk_error(where)
   (which reads it as the exception being handled) and cleared, 0; anything else goes on, -1. */
static int
sdk_failed(Fn *f, PyObject *where)
{
    PyObject *type, *value, *tb, *prev, *res;
    if (!PyErr_ExceptionMatches(PyExc_Exception))
        return -1;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL && value != NULL)
        PyException_SetTraceback(value, tb);
    prev = PyErr_GetHandledException();
    PyErr_SetHandledException(value);
    res = PyObject_CallOneArg(f->sdk_error, where);
    if (res == NULL)
        PyErr_Clear();
    Py_XDECREF(res);
    PyErr_SetHandledException(prev != NULL ? prev : Py_None);
    Py_XDECREF(prev);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    return 0;
}

/* _START, at the first step: 0 (timed, or not where the SDK failed), -1 to raise. */
static int
begin(Stream *s)
{
    Fn *f = s->fn;
    PyObject *sh, *got = NULL, *n = NULL, *t0, **at;
    long long started;
    s->state = DONE;
    sh = PyObject_GetAttr(f->tls, s_shard);
    if (sh == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError))
            return sdk_failed(f, s_start);
        PyErr_Clear();
        if ((sh = PyObject_CallNoArgs(f->local)) == NULL)
            return sdk_failed(f, s_start);
    }
    if ((got = get_slot(sh, s_started)) == NULL)
        goto failed;
    started = PyLong_AsLongLong(got);
    Py_DECREF(got);
    if ((started == -1 && PyErr_Occurred())
            || (n = PyLong_FromLongLong(started + 1)) == NULL)
        goto failed;
    if ((at = slot(sh, s_started)) != NULL)
        Py_SETREF(*at, Py_NewRef(n));
    else if (PyObject_SetAttr(sh, s_started, n) < 0)
        goto failed;
    if (f->set_rid != Py_None) {
        PyObject *base = PyObject_GetAttr(sh, s_rid_base), *rid, *res;
        if (base == NULL)
            goto failed;
        rid = PyNumber_Add(base, n);
        Py_DECREF(base);
        if (rid == NULL)
            goto failed;
        res = PyObject_CallOneArg(f->set_rid, rid);
        Py_DECREF(rid);
        if (res == NULL)
            goto failed;
        Py_DECREF(res);
    }
    if (f->native) {
        t0 = NULL;
        s->t0d = clock_now();
    }
    else if ((t0 = PyObject_CallNoArgs(f->pc)) == NULL)
        goto failed;
    Py_DECREF(n);
    s->sh = sh;
    s->t0 = t0;
    s->n = started + 1;
    s->state = OPEN;
    return 0;
failed:
    Py_XDECREF(n);
    Py_DECREF(sh);
    return sdk_failed(f, s_start);
}

/* _END, _CLOSED, _RAISED: called with no exception set; 0, or -1 with one to raise. */
static int
finish(Stream *s, int how, PyObject *exc)
{
    Fn *f = s->fn;
    PyObject *sh = s->sh, *t0 = s->t0, *res = NULL, *now, *lat, *dt;
    int rc = 0;
    s->sh = s->t0 = NULL;
    s->state = DONE;
    if (sh == NULL)
        return 0;
    if (how == RAISED) {
        PyObject *args[3] = {sh, t0 != NULL ? t0 : PyFloat_FromDouble(s->t0d), exc};
        if (args[1] != NULL)
            res = PyObject_Vectorcall(f->failed, args, 3, NULL);
        if (t0 == NULL)
            Py_XDECREF(args[1]);
        goto done;
    }
    if (t0 == NULL)
        dt = PyFloat_FromDouble(clock_now() - s->t0d);
    else if ((now = PyObject_CallNoArgs(f->pc)) != NULL) {
        dt = PyNumber_Subtract(now, t0);
        Py_DECREF(now);
    }
    else
        dt = NULL;
    if (dt == NULL)
        goto done;
    lat = get_slot(sh, s_lat);
    if (lat == NULL) {
        Py_DECREF(dt);
        goto done;
    }
    if (PyList_CheckExact(lat))
        rc = PyList_Append(lat, dt);
    else {
        PyObject *added = PyObject_CallMethod(lat, "append", "O", dt);
        rc = added == NULL ? -1 : 0;
        Py_XDECREF(added);
    }
    Py_DECREF(lat);
    Py_DECREF(dt);
    if (rc < 0)
        goto done;
    if (how == ENDED && !(s->n & f->cap))
        res = PyObject_CallOneArg(f->drain, sh);
    else
        res = Py_NewRef(Py_None);
done:
    rc = 0;
    if (res == NULL)
        rc = sdk_failed(f, s_stream);
    Py_XDECREF(res);
    Py_DECREF(sh);
    Py_XDECREF(t0);
    return rc;
}

/* The step raised (set): the call ends by it. The exception stays set as it was, unless the
   bookkeeping raised something that is not the SDK's to swallow. */
static void
finish_raised(Stream *s)
{
    PyObject *type, *value, *tb;
    int how, rc;
    PyErr_Fetch(&type, &value, &tb);
    if (PyErr_GivenExceptionMatches(type, PyExc_StopAsyncIteration))
        how = ENDED;
    else if (PyErr_GivenExceptionMatches(type, PyExc_GeneratorExit))
        how = CLOSED;
    else {
        how = RAISED;
        PyErr_NormalizeException(&type, &value, &tb);
        if (tb != NULL && value != NULL)
            PyException_SetTraceback(value, tb);
    }
    rc = finish(s, how, value != NULL ? value : Py_None);
    if (rc < 0) {
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
        return;
    }
    PyErr_Restore(type, value, tb);
}

/* -- Step: one of the generator's awaitables, passed on ---------------------------------- */

static int
step_first(Step *self)
{
    Stream *s = self->stream;
    self->started = 1;
    if (s->running) {
        self->quiet = 1;
        return 0;
    }
    s->running = 1;
    self->mine = 1;
    if (s->state != FRESH)
        return 0;
    if (self->kind == NEXT)
        return begin(s);
    if (self->kind != SEND)             /* thrown into or closed before it began: never a call */
        s->state = DONE;
    return 0;
}

static void
step_over(Step *self)
{
    if (self->mine) {
        self->stream->running = 0;
        self->mine = 0;
    }
}

/* After the generator's awaitable finished with ``r`` (*result set on PYGEN_RETURN). */
static PySendResult
step_done(Step *self, PySendResult r, PyObject **result)
{
    Stream *s = self->stream;
    int quiet = self->quiet;
    step_over(self);
    self->quiet = 1;                    /* awaited again, the generator refuses it itself */
    if (quiet || s->state != OPEN)
        return r;
    if (r == PYGEN_ERROR) {
        finish_raised(s);
        return r;
    }
    if (self->kind == CLOSE && finish(s, CLOSED, NULL) < 0) {
        Py_CLEAR(*result);
        return PYGEN_ERROR;
    }
    return r;
}

static PySendResult
step_send(Step *self, PyObject *arg, PyObject **result)
{
    PySendResult r;
    if (!self->started && step_first(self) < 0) {
        step_over(self);
        *result = NULL;
        return PYGEN_ERROR;
    }
    r = PyIter_Send(self->inner, arg, result);
    if (r == PYGEN_NEXT)
        return r;
    return step_done(self, r, result);
}

/* A PySendResult as the iterator protocol says it: a value, or StopIteration(value). */
static PyObject *
as_iteration(PySendResult r, PyObject *res)
{
    PyObject *stop;
    if (r == PYGEN_NEXT)
        return res;
    if (r == PYGEN_ERROR)
        return NULL;
    if (res == Py_None)
        PyErr_SetNone(PyExc_StopIteration);
    else if ((stop = PyObject_CallOneArg(PyExc_StopIteration, res)) != NULL) {
        PyErr_SetObject(PyExc_StopIteration, stop);
        Py_DECREF(stop);
    }
    Py_DECREF(res);
    return NULL;
}

static PyObject *
step_iternext(Step *self)
{
    PyObject *res = NULL;
    PySendResult r = step_send(self, Py_None, &res);
    return as_iteration(r, res);
}

static PyObject *
step_send_method(Step *self, PyObject *arg)
{
    PyObject *res = NULL;
    PySendResult r = step_send(self, arg, &res);
    return as_iteration(r, res);
}

static PyObject *
step_throw(Step *self, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *meth, *res, *value = NULL;
    if (!self->started) {               /* thrown into before its first step */
        self->started = 1;
        self->quiet = 1;
    }
    if ((meth = PyObject_GetAttr(self->inner, s_throw)) == NULL)
        return NULL;
    res = PyObject_Vectorcall(meth, args, nargs, NULL);
    Py_DECREF(meth);
    if (res != NULL)
        return res;                     /* suspended again inside the generator */
    if (PyErr_ExceptionMatches(PyExc_StopIteration)) {
        /* the step finished: the StopIteration goes on to the caller as it was */
        PyObject *type, *val, *tb;
        PyErr_Fetch(&type, &val, &tb);
        value = Py_NewRef(Py_None);
        if (step_done(self, PYGEN_RETURN, &value) == PYGEN_ERROR) {
            Py_XDECREF(type);
            Py_XDECREF(val);
            Py_XDECREF(tb);
            return NULL;
        }
        Py_XDECREF(value);
        PyErr_Restore(type, val, tb);
        return NULL;
    }
    step_done(self, PYGEN_ERROR, &value);
    return NULL;
}

static PyObject *
step_close(Step *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *res = PyObject_CallMethodNoArgs(self->inner, s_close);
    step_over(self);
    return res;
}

static PyObject *
same(PyObject *self)
{
    return Py_NewRef(self);
}

static int
step_traverse(Step *self, visitproc visit, void *arg)
{
    Py_VISIT(self->stream);
    Py_VISIT(self->inner);
    return 0;
}

static int
step_clear(Step *self)
{
    if (self->stream != NULL)
        step_over(self);
    Py_CLEAR(self->stream);
    Py_CLEAR(self->inner);
    return 0;
}

#ifdef FREELISTS
static Step *free_steps[KEEP];
static int n_free_steps;
#endif

static void
step_dealloc(Step *self)
{
    PyObject_GC_UnTrack(self);
    step_clear(self);
#ifdef FREELISTS
    if (n_free_steps < KEEP) {
        free_steps[n_free_steps++] = self;
        return;
    }
#endif
    PyObject_GC_Del(self);
}

static PyMethodDef step_methods[] = {
    {"send", (PyCFunction)step_send_method, METH_O, NULL},
    {"throw", (PyCFunction)(void (*)(void))step_throw, METH_FASTCALL, NULL},
    {"close", (PyCFunction)step_close, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyAsyncMethods step_async = {
    .am_await = (unaryfunc)same,
    .am_send = (sendfunc)step_send,
};

static PyTypeObject StepType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "agent.sdk._streams.Step",
    .tp_basicsize = sizeof(Step),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "One step of a monitored async generator: what its __anext__, asend, athrow and "
              "aclose return.",
    .tp_dealloc = (destructor)step_dealloc,
    .tp_traverse = (traverseproc)step_traverse,
    .tp_clear = (inquiry)step_clear,
    .tp_as_async = &step_async,
    .tp_iter = (getiterfunc)same,
    .tp_iternext = (iternextfunc)step_iternext,
    .tp_methods = step_methods,
};

static PyObject *
new_step(Stream *s, PyObject *inner, int kind)
{
    Step *step;
    if (inner == NULL)
        return NULL;
#ifdef FREELISTS
    if (n_free_steps > 0) {
        step = free_steps[--n_free_steps];
        _Py_NewReference((PyObject *)step);
    }
    else
#endif
    if ((step = PyObject_GC_New(Step, &StepType)) == NULL) {
        Py_DECREF(inner);
        return NULL;
    }
    step->stream = (Stream *)Py_NewRef(s);
    step->inner = inner;
    step->kind = kind;
    step->started = step->mine = step->quiet = 0;
    PyObject_GC_Track(step);
    return (PyObject *)step;
}

/* -- Stream: what a call returns ---------------------------------------------------------- */

static PyObject *
stream_anext(Stream *self)
{
    return new_step(self, Py_TYPE(self->agen)->tp_as_async->am_anext(self->agen), NEXT);
}

static PyObject *
stream_asend(Stream *self, PyObject *value)
{
    return new_step(self, PyObject_CallMethodOneArg(self->agen, s_asend, value),
                    value == Py_None ? NEXT : SEND);
}

static PyObject *
stream_athrow(Stream *self, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *meth = PyObject_GetAttr(self->agen, s_athrow), *inner;
    if (meth == NULL)
        return NULL;
    inner = PyObject_Vectorcall(meth, args, nargs, NULL);
    Py_DECREF(meth);
    return new_step(self, inner, THROW);
}

static PyObject *
stream_aclose(Stream *self, PyObject *Py_UNUSED(ignored))
{
    return new_step(self, PyObject_CallMethodNoArgs(self->agen, s_aclose), CLOSE);
}

static PyObject *
stream_forward(Stream *self, void *name)
{
    return PyObject_GetAttrString(self->agen, (const char *)name);
}

static PyObject *
stream_repr(Stream *self)
{
    return PyUnicode_FromFormat("<monitored %R>", self->agen);
}

/* Dropped before its end: closed early (the generator itself is finalised on its own, by
   asyncio's hook where a loop runs). */
static void
stream_finalize(Stream *self)
{
    PyObject *type, *value, *tb;
    if (self->state != OPEN)
        return;
    PyErr_Fetch(&type, &value, &tb);
    if (finish(self, CLOSED, NULL) < 0)
        PyErr_WriteUnraisable((PyObject *)self);
    PyErr_Restore(type, value, tb);
}

static int
stream_traverse(Stream *self, visitproc visit, void *arg)
{
    Py_VISIT(self->agen);
    Py_VISIT(self->fn);
    Py_VISIT(self->sh);
    Py_VISIT(self->t0);
    return 0;
}

static int
stream_clear(Stream *self)
{
    Py_CLEAR(self->agen);
    Py_CLEAR(self->fn);
    Py_CLEAR(self->sh);
    Py_CLEAR(self->t0);
    return 0;
}

static void
stream_dealloc(Stream *self)
{
    if (PyObject_CallFinalizerFromDealloc((PyObject *)self) < 0)
        return;                         /* resurrected */
    PyObject_GC_UnTrack(self);
    stream_clear(self);
    PyObject_GC_Del(self);
}

static PyMethodDef stream_methods[] = {
    {"asend", (PyCFunction)stream_asend, METH_O, NULL},
    {"athrow", (PyCFunction)(void (*)(void))stream_athrow, METH_FASTCALL, NULL},
    {"aclose", (PyCFunction)stream_aclose, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef stream_getset[] = {
    {"ag_running", (getter)stream_forward, NULL, NULL, "ag_running"},
    {"ag_frame", (getter)stream_forward, NULL, NULL, "ag_frame"},
    {"ag_code", (getter)stream_forward, NULL, NULL, "ag_code"},
    {"ag_await", (getter)stream_forward, NULL, NULL, "ag_await"},
    {"__name__", (getter)stream_forward, NULL, NULL, "__name__"},
    {"__qualname__", (getter)stream_forward, NULL, NULL, "__qualname__"},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyAsyncMethods stream_async = {
    .am_aiter = (unaryfunc)same,
    .am_anext = (unaryfunc)stream_anext,
};

static PyTypeObject StreamType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "agent.sdk._streams.Stream",
    .tp_basicsize = sizeof(Stream),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A call of a monitored async-generator function: the user's generator, its steps "
              "passed on, timed from its first step to its end.",
    .tp_dealloc = (destructor)stream_dealloc,
    .tp_finalize = (destructor)stream_finalize,
    .tp_traverse = (traverseproc)stream_traverse,
    .tp_clear = (inquiry)stream_clear,
    .tp_repr = (reprfunc)stream_repr,
    .tp_as_async = &stream_async,
    .tp_methods = stream_methods,
    .tp_getset = stream_getset,
};

/* -- Fn: the monitored async-generator function ------------------------------------------- */

static PyObject *
fn_vectorcall(Fn *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Stream *s;
    PyObject *agen = PyObject_Vectorcall(self->fn, args, nargsf, kwnames);
    if (agen == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_Exception))
            return NULL;
        PyErr_Clear();                  /* the generic wrapper raises it, as a recorded call */
        return PyObject_Vectorcall(self->generic, args, nargsf, kwnames);
    }
    if (!PyAsyncGen_CheckExact(agen))
        return agen;
    if ((s = PyObject_GC_New(Stream, &StreamType)) == NULL) {
        Py_DECREF(agen);
        return NULL;
    }
    s->agen = agen;
    s->fn = (Fn *)Py_NewRef(self);
    s->sh = s->t0 = NULL;
    s->n = 0;
    s->state = FRESH;
    s->running = 0;
    PyObject_GC_Track(s);
    return (PyObject *)s;
}

static PyObject *
fn_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *fn, *generic, *tls, *local, *pc, *drain, *failed, *sdk_error, *set_rid, *cap;
    Fn *self;
    if (no_keywords("Fn", kwargs) < 0
            || !PyArg_UnpackTuple(args, "Fn", 10, 10, &fn, &generic, &tls, &local, &pc, &drain,
                                  &failed, &sdk_error, &set_rid, &cap))
        return NULL;
    if ((self = PyObject_GC_New(Fn, type)) == NULL)
        return NULL;
    self->cap = PyLong_AsLongLong(cap);
    if (self->cap == -1 && PyErr_Occurred()) {
        PyObject_GC_Del(self);
        return NULL;
    }
    self->fn = Py_NewRef(fn);
    self->generic = Py_NewRef(generic);
    self->tls = Py_NewRef(tls);
    self->local = Py_NewRef(local);
    self->pc = Py_NewRef(pc);
    self->native = pc == perf_counter;
    self->drain = Py_NewRef(drain);
    self->failed = Py_NewRef(failed);
    self->sdk_error = Py_NewRef(sdk_error);
    self->set_rid = Py_NewRef(set_rid);
    self->dict = NULL;
    self->vectorcall = (vectorcallfunc)fn_vectorcall;
    PyObject_GC_Track(self);
    return (PyObject *)self;
}

static PyObject *
fn_get(PyObject *self, PyObject *obj, PyObject *type)
{
    if (obj == NULL || obj == Py_None)
        return Py_NewRef(self);
    return PyMethod_New(self, obj);
}

static PyObject *
fn_repr(PyObject *self)
{
    PyObject *name = PyObject_GetAttr(self, s_qualname), *out;
    if (name == NULL) {
        PyErr_Clear();
        return PyUnicode_FromFormat("<monitored async generator function at %p>", self);
    }
    out = PyUnicode_FromFormat("<monitored async generator function %S at %p>", name, self);
    Py_DECREF(name);
    return out;
}

/* pickled by reference, as a function is */
static PyObject *
fn_reduce(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyObject_GetAttr(self, s_qualname);
}

static int
fn_traverse(Fn *self, visitproc visit, void *arg)
{
    Py_VISIT(self->fn);
    Py_VISIT(self->generic);
    Py_VISIT(self->tls);
    Py_VISIT(self->local);
    Py_VISIT(self->pc);
    Py_VISIT(self->drain);
    Py_VISIT(self->failed);
    Py_VISIT(self->sdk_error);
    Py_VISIT(self->set_rid);
    Py_VISIT(self->dict);
    return 0;
}

static int
fn_clear(Fn *self)
{
    Py_CLEAR(self->fn);
    Py_CLEAR(self->generic);
    Py_CLEAR(self->tls);
    Py_CLEAR(self->local);
    Py_CLEAR(self->pc);
    Py_CLEAR(self->drain);
    Py_CLEAR(self->failed);
    Py_CLEAR(self->sdk_error);
    Py_CLEAR(self->set_rid);
    Py_CLEAR(self->dict);
    return 0;
}

static void
fn_dealloc(Fn *self)
{
    PyObject_GC_UnTrack(self);
    fn_clear(self);
    PyObject_GC_Del(self);
}

static PyMethodDef fn_methods[] = {
    {"__reduce__", (PyCFunction)fn_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef fn_getset[] = {
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject FnType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "agent.sdk._streams.Fn",
    .tp_basicsize = sizeof(Fn),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL
                | Py_TPFLAGS_METHOD_DESCRIPTOR,
    .tp_doc = "Fn(fn, generic, tls, local, pc, drain, failed, sdk_error, set_rid, cap): a "
              "monitored async-generator function (binds as a method; attributes in its "
              "__dict__).",
    .tp_new = fn_new,
    .tp_dealloc = (destructor)fn_dealloc,
    .tp_traverse = (traverseproc)fn_traverse,
    .tp_clear = (inquiry)fn_clear,
    .tp_repr = fn_repr,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(Fn, vectorcall),
    .tp_descr_get = fn_get,
    .tp_dictoffset = offsetof(Fn, dict),
    .tp_methods = fn_methods,
    .tp_getset = fn_getset,
};

/* -- the module --------------------------------------------------------------------------- */

static int
intern(PyObject **to, const char *text)
{
    if (*to == NULL)
        *to = PyUnicode_InternFromString(text);
    return *to == NULL ? -1 : 0;
}

static int
exec_module(PyObject *module)
{
    if (intern(&s_shard, "shard") < 0 || intern(&s_started, "started") < 0
            || intern(&s_rid_base, "rid_base") < 0 || intern(&s_lat, "lat") < 0
            || intern(&s_start, "start") < 0 || intern(&s_stream, "stream") < 0
            || intern(&s_asend, "asend") < 0 || intern(&s_athrow, "athrow") < 0
            || intern(&s_aclose, "aclose") < 0 || intern(&s_throw, "throw") < 0
            || intern(&s_close, "close") < 0 || intern(&s_qualname, "__qualname__") < 0)
        return -1;
    if (perf_counter == NULL) {
        PyObject *time = PyImport_ImportModule("time");
        if (time == NULL)
            return -1;
        perf_counter = PyObject_GetAttrString(time, "perf_counter");
        Py_DECREF(time);
        if (perf_counter == NULL)
            return -1;
    }
    if (PyModule_AddType(module, &StreamType) < 0 || PyModule_AddType(module, &StepType) < 0
            || PyModule_AddType(module, &FnType) < 0)
        return -1;
    return 0;
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, exec_module},
    {0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "agent.sdk._streams",
    .m_doc = "The async-generator form of @monitor.inference, stepped in C (see the file's "
             "head).",
    .m_size = 0,
    .m_slots = module_slots,
};

PyMODINIT_FUNC
PyInit__streams(void)
{
    return PyModuleDef_Init(&module_def);
}
