"""``y ← y + α·x`` in one pass, through the BLAS that NumPy itself links (``axpy``).

NumPy has no fused multiply-add: ``θ ← θ + α·d`` costs two passes over the
arrays (``t = α·d`` then ``θ += t``), where PyTorch's ``add_(d, alpha=α)``
makes one. The step of plain gradient descent is nothing else, so on a large
model that second pass is most of the difference between the two. BLAS has
had the one-pass form since 1979 (``saxpy``/``daxpy``), and every NumPy build
ships or links a BLAS for its matrix products; this module finds that library
in the running process and calls its ``axpy`` through :mod:`ctypes` (standard
library: the core still imports NumPy alone).

Arithmetic: optimised ``axpy`` kernels compute the bulk of a vector with one
fused multiply-add per element, ``fl(y + α·x)`` rounded once (as PyTorch's
``add_`` with ``alpha`` does), but the last few elements (fewer than the
kernel's vector width) with a separate multiply and add. So that an element's
result never depends on where it sits (in a slice, in a BLAS thread's share,
in a flattened model), BLAS is only ever given runs whose every share is a
whole multiple of :data:`BLOCK` elements: a threaded call gets a multiple of
``BLOCK × lcm(1, …, T)`` elements for ``T`` BLAS threads (OpenBLAS splits a
vector into contiguous near-equal shares), the rest goes on one BLAS thread,
and the last ``< BLOCK`` elements go through the same kernel zero-padded to one
block. The tests check the bits against slicing, layout and thread count.
OpenBLAS has one thread count for the whole process, so a call meant for one
BLAS thread is made inside a *one-thread section* (see :class:`single_threaded`)
that holds the count at 1 for every thread until the last open section closes,
and threaded calls are made only while no section is open. Where no usable
OpenBLAS is found (NumPy built on MKL or Apple's Accelerate, or an OpenBLAS
without ``openblas_set_num_threads_local``), :func:`axpy_` falls back to
NumPy's two passes, rounded twice. Set ``DESCEND_BLAS_AXPY=0`` to
always use NumPy.

Only 64-bit-integer interfaces with their ``64_`` symbol suffix (NumPy's own
wheels: ``scipy_cblas_saxpy64_``) and plain 32-bit ``cblas_saxpy`` of a
library NumPy reports as 32-bit are used: calling a routine with the wrong
integer width would corrupt memory, so anything less certain is left alone.
"""

from __future__ import annotations

import ctypes
import glob
import os
import sys
import threading

import numpy as np

__all__ = ["axpy_", "try_axpy_", "planned_axpy", "abs_sum", "available", "library", "single_threaded"]

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)

#: Elements per BLAS call are a multiple of this (a multiple of every kernel's vector width).
BLOCK = 64
#: Calls longer than this are multithreaded by OpenBLAS unless told otherwise.
_BLAS_THREADED = 10_000
#: The longest call that needs no one-thread section to stay on one BLAS thread.
ONE_CALL_MAX = _BLAS_THREADED
#: Elements from which a call gets several BLAS threads: below, waking (and then
#: spinning) them costs more than they save, on elementwise workloads such as a batched
#: landscape run most of all (PyTorch's elementwise loops split from 32,768 per thread).
THREADED_MIN = 1 << 16

_routines: dict | None = None  # dtype -> ctypes function, filled on first use
_asums: dict = {}  # dtype -> the library's Σ|x|, filled with _routines
_set_local_threads = None  # OpenBLAS's per-thread thread count setter
_get_threads = None  # OpenBLAS's thread count
#: Most BLAS threads one call is given (the alignment unit grows with lcm(1..T)).
MAX_THREADS = 8
_LCM = [1, 1, 2, 6, 12, 60, 60, 420, 840]
_local = threading.local()  # .single: this thread runs inside descend's own parallel loop
_library: str | None = None
_pads = threading.local()  # per thread: dtype -> (x block, y block)


def _candidate_libraries() -> list[str]:
    """Shared libraries that may hold NumPy's BLAS, the ones already loaded first."""
    found: list[str] = []
    try:  # Linux: what this process has mapped (NumPy's BLAS is loaded with numpy)
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.rsplit(None, 1)[-1]
                name = os.path.basename(path).lower()
                if path.startswith("/") and "openblas" in name and path not in found:
                    found.append(path)
    except OSError:
        pass
    root = os.path.dirname(np.__file__)
    for pattern in ("../numpy.libs/*openblas*", ".dylibs/*openblas*", ".libs/*openblas*"):
        for path in sorted(glob.glob(os.path.join(root, pattern))):
            path = os.path.normpath(path)
            if path not in found:
                found.append(path)
    return found


def _numpy_blas_is_ilp64() -> bool | None:
    """Whether NumPy reports a 64-bit-integer BLAS (None: it does not say)."""
    try:
        blas = np.__config__.CONFIG["Build Dependencies"]["blas"]
    except (AttributeError, KeyError, TypeError):
        return None
    text = " ".join(str(v) for v in blas.values()).lower()
    if "64bitint" in text or "ilp64" in text or "openblas64" in text:
        return True
    return False


def _bind(lib: ctypes.CDLL, symbol: str, real, integer):
    fn = getattr(lib, symbol)
    fn.restype = None
    fn.argtypes = [integer, real, ctypes.c_void_p, integer, ctypes.c_void_p, integer]
    return fn


def _works(fn, dtype) -> bool:
    """Check a routine before trusting it: right values, nothing written past the end,
    and every element computed alike (a vector, its halves and its single elements
    padded to a block give identical bits)."""
    rng = np.random.default_rng(12345)
    n = 2 * BLOCK
    x = rng.standard_normal(n).astype(dtype)
    y = rng.standard_normal(n).astype(dtype)
    alpha = -0.37
    whole = np.full(n + 8, 7.0, dtype=dtype)
    whole[:n] = y
    fn(n, alpha, x.ctypes.data, 1, whole.ctypes.data, 1)
    expect = y + dtype.type(alpha) * x
    tol = 4 * np.finfo(dtype).eps * (np.abs(y) + np.abs(alpha * x))
    if not (np.all(np.abs(whole[:n] - expect) <= tol) and np.all(whole[n:] == 7.0)):
        return False
    halves = y.copy()
    for start in (0, BLOCK):
        fn(BLOCK, alpha, x[start:].ctypes.data, 1, halves[start:].ctypes.data, 1)
    single = y.copy()
    px, py = np.zeros(BLOCK, dtype), np.zeros(BLOCK, dtype)
    for i in range(0, n, 7):
        px[0], py[0] = x[i], y[i]
        fn(BLOCK, alpha, px.ctypes.data, 1, py.ctypes.data, 1)
        single[i] = py[0]
    return bool(np.array_equal(halves, whole[:n]) and np.array_equal(single[::7], whole[:n:7]))


def _find() -> dict:
    global _library
    if os.environ.get("DESCEND_BLAS_AXPY", "1").strip().lower() in {"0", "false", "no", "off"}:
        return {}
    ilp64 = _numpy_blas_is_ilp64()
    for path in _candidate_libraries():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        names = [(p + "cblas_{}axpy64_", ctypes.c_int64) for p in ("scipy_", "")]
        if ilp64 is False:
            names.append(("cblas_{}axpy", ctypes.c_int))
        for template, integer in names:
            try:
                routines = {
                    _F32: _bind(lib, template.format("s"), ctypes.c_float, integer),
                    _F64: _bind(lib, template.format("d"), ctypes.c_double, integer),
                }
            except AttributeError:
                continue
            setter = None
            for name in ("openblas_set_num_threads_local", "scipy_openblas_set_num_threads_local64_"):
                setter = getattr(lib, name, None)
                if setter is not None:
                    break
            if setter is None:  # cannot keep long calls on one BLAS thread: not deterministic
                continue
            getter = None
            for name in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                         "openblas_get_num_threads"):
                getter = getattr(lib, name, None)
                if getter is not None:
                    break
            if getter is None:
                continue
            setter.restype = ctypes.c_int
            setter.argtypes = [ctypes.c_int]
            getter.restype = ctypes.c_int
            getter.argtypes = []
            global _set_local_threads, _get_threads
            with _section_lock:
                previous = setter(1)
                try:
                    ok = all(_works(fn, dt) for dt, fn in routines.items())
                finally:
                    setter(previous)
            if ok:
                _set_local_threads, _get_threads = setter, getter
                _library = path
                _bind_asum(lib, template.replace("axpy", "asum"), integer)
                return routines
    return {}


def _bind_asum(lib, template: str, integer) -> None:
    """Σ|x| of the same library, if it has it and gets it right (else the probe stays NumPy's)."""
    global _asums
    found = {}
    for dtype, letter, real in ((_F32, "s", ctypes.c_float), (_F64, "d", ctypes.c_double)):
        fn = getattr(lib, template.format(letter), None)
        if fn is None:
            return
        fn.restype = real
        fn.argtypes = [integer, ctypes.c_void_p, integer]
        x = np.array([1.5, -2.0, 0.25, 4.0, -1.0], dtype)
        if fn(x.size, x.ctypes.data, 1) != 8.75:
            return
        found[dtype] = fn
    _asums = found


def _get() -> dict:
    global _routines
    if _routines is None:
        try:
            _routines = _find()
        except Exception:  # never let a probe of the environment break training
            _routines = {}
    return _routines


def available() -> bool:
    """Whether :func:`axpy_` runs in BLAS (one fused pass) rather than in two NumPy passes."""
    return bool(_get())


def library() -> str | None:
    """The path of the BLAS library in use, if any."""
    _get()
    return _library


_from_buffer = ctypes.c_char.from_buffer
_addressof = ctypes.addressof


def _pad(dtype) -> tuple:
    """This thread's two one-block buffers for ``dtype`` and their addresses."""
    pads = getattr(_pads, "by_dtype", None)
    if pads is None:
        pads = _pads.by_dtype = {}
    entry = pads.get(dtype)
    if entry is None:
        bx, by = np.zeros(BLOCK, dtype), np.zeros(BLOCK, dtype)
        entry = pads[dtype] = (bx, by, bx.ctypes.data, by.ctypes.data)
    return entry


# OpenBLAS's thread count is one setting for the whole process: its
# ``openblas_set_num_threads_local`` returns the previous count, but the count it sets
# is the one every thread then sees (measured). So no thread may lower it for one call
# and raise it again while another thread is in a call it meant to keep on one thread:
# that call would be split over BLAS threads (whose polling then takes the cores from
# descend's own threads) at points that need not be whole blocks. Instead every stretch
# of code that needs one BLAS thread opens a *one-thread section*: the first section
# to open sets the count to 1, the last to close restores it, and threaded calls are
# only made while no section is open, under the same lock.
_section_lock = threading.Lock()
_section = [0, 1]  # [open sections, the thread count to restore when the last closes]


def _open_section() -> None:
    with _section_lock:
        if _section[0] == 0:
            _section[1] = _set_local_threads(1)
        _section[0] += 1


def _close_section() -> None:
    with _section_lock:
        _section[0] -= 1
        if _section[0] == 0 and _section[1] != 1:
            _set_local_threads(_section[1])


class single_threaded:
    """Within this block, BLAS calls made from this thread use one BLAS thread.

    For code that already runs on several threads of its own (descend's
    optimizer pool): BLAS threads on top would only compete for the cores.
    While any thread is inside such a block, every BLAS call in the process
    runs on one thread (OpenBLAS has one thread count for the process).
    """

    def __enter__(self):
        if _routines is None:
            _get()
        self._prev = getattr(_local, "single", False)
        self._opened = not self._prev and _set_local_threads is not None
        if self._opened:
            _open_section()
        _local.single = True
        return self

    def __exit__(self, *exc):
        _local.single = self._prev
        if self._opened:
            _close_section()
        return False


def _threaded(fn, n: int, alpha: float, px: int, py: int) -> int:
    """The longest prefix of ``n`` elements whose every split over the BLAS threads is
    whole blocks, on those threads; returns how many elements that was (0: none, the
    caller does them on one thread)."""
    with _section_lock:  # no section opens (nor closes) during the call
        if _section[0]:  # a section is open somewhere: one thread for everyone now
            return 0
        current = _get_threads()
        threads = min(current, MAX_THREADS)
        if threads < 2:
            return 0
        done = n - n % (BLOCK * _LCM[threads])
        if done:
            previous = _set_local_threads(threads) if current != threads else None
            try:
                fn(done, alpha, px, 1, py, 1)
            finally:
                if previous is not None:
                    _set_local_threads(previous)
        return done


def abs_sum(x: np.ndarray, one_thread: bool = False) -> float | None:
    """``Σ|xᵢ|`` through BLAS (``sasum``/``dasum``, which gain from OpenBLAS's threads where
    its dot product does not), or None where BLAS cannot take ``x`` (then use NumPy).

    A finiteness probe: the sum is NaN or infinite if any value is (or if huge finite
    values overflow it), and BLAS raises no floating-point warnings on the way.
    ``one_thread``: in this thread only, waking none of OpenBLAS's threads (which
    then poll for work for about a tenth of a second, taking cores from threads
    of descend's own that run next).
    """
    if _routines is None:
        _get()
    fn = _asums.get(x.dtype)
    if fn is None or not x.flags.c_contiguous:
        return None
    if one_thread and x.size > _BLAS_THREADED and not getattr(_local, "single", False):
        with single_threaded():
            return fn(x.size, x.ctypes.data, 1)
    return fn(x.size, x.ctypes.data, 1)


def _routine_for(x: np.ndarray, y: np.ndarray):
    """The axpy routine for ``y ← y + α·x``, or None where BLAS cannot take these arrays."""
    routines = _routines if _routines is not None else _get()
    fn = routines.get(y.dtype) if routines else None
    if fn is None or x.dtype != y.dtype or x.shape != y.shape:
        return None
    yf = y.flags
    if not (yf.c_contiguous and yf.writeable and x.flags.c_contiguous):
        return None
    return fn


def _one_thread(fn, n: int, alpha: float, px: int, py: int) -> None:
    """``n`` elements on one BLAS thread (OpenBLAS would split a longer call)."""
    if n > _BLAS_THREADED and not getattr(_local, "single", False):
        _open_section()
        try:
            fn(n, alpha, px, 1, py, 1)
        finally:
            _close_section()
    elif n:
        fn(n, alpha, px, 1, py, 1)


def _padded_tail(fn, alpha: float, xt: np.ndarray, yt: np.ndarray) -> None:
    """The last ``< BLOCK`` elements (flat views), zero-padded to one block, through the same kernel."""
    bx, by, pbx, pby = _pad(yt.dtype)
    k = yt.size
    bx[:k] = xt
    by[:k] = yt
    fn(BLOCK, alpha, pbx, 1, pby, 1)
    yt[...] = by[:k]


def try_axpy_(alpha: float, x: np.ndarray, y: np.ndarray) -> bool:
    """``y ← y + α·x`` through BLAS if possible; False (nothing done) if not.

    Possible when a BLAS was found and ``x``, ``y`` are C-contiguous arrays of
    one shape and dtype (float32 or float64), ``y`` writable.
    """
    fn = _routine_for(x, y)
    if fn is None:
        return False
    n = y.size
    bulk = n - n % BLOCK
    if bulk:
        # c_char.from_buffer is the cheapest way to an array's address (well under
        # a microsecond, against ~3 µs for .ctypes.data); a read-only x takes the slow one.
        px = _addressof(_from_buffer(x)) if x.flags.writeable else x.ctypes.data
        py = _addressof(_from_buffer(y))
        done = 0
        if n >= THREADED_MIN and not getattr(_local, "single", False):
            done = _threaded(fn, bulk, alpha, px, py)
        size = y.itemsize
        _one_thread(fn, bulk - done, alpha, px + done * size, py + done * size)
    if bulk < n:
        if y.ndim != 1:
            x, y = x.reshape(-1), y.reshape(-1)
        _padded_tail(fn, alpha, x[bulk:], y[bulk:])
    return True


def planned_axpy(x: np.ndarray, y: np.ndarray):
    """A function ``run(α)`` doing ``y ← y + α·x`` on one BLAS thread, addresses worked out once.

    For a caller that updates the same arrays at every step (descend's traced
    training step): the call is then little more than the BLAS routine itself.
    The function keeps ``x`` and ``y`` alive. None where :func:`try_axpy_` could
    not take the arrays.
    """
    fn = _routine_for(x, y)
    if fn is None:
        return None
    n = y.size
    bulk = n - n % BLOCK
    px, py = x.ctypes.data, y.ctypes.data
    xt, yt = x.reshape(-1)[bulk:], y.reshape(-1)[bulk:]

    def run(alpha, keep=(x, y)):
        _one_thread(fn, bulk, alpha, px, py)
        if bulk < n:
            _padded_tail(fn, alpha, xt, yt)
    return run


def axpy_(alpha: float, x: np.ndarray, y: np.ndarray, tmp: np.ndarray | None = None) -> np.ndarray:
    """``y ← y + α·x`` in place; returns ``y``.

    ``x`` and ``y`` have one shape. Where a BLAS was found, every float32 or
    float64 ``y`` gets the fused result, whatever the memory layouts (an
    operand BLAS cannot walk is copied first, so the rounding never depends on
    the layout); otherwise two NumPy passes, with ``α·x`` in ``tmp`` (scratch
    of ``y``'s shape and dtype, allocated if None).
    """
    if try_axpy_(alpha, x, y):
        return y
    routines = _routines if _routines is not None else _get()
    if routines and y.dtype in routines and y.size:
        if y.flags.f_contiguous and y.flags.writeable:
            yy, xx = y.T, np.asarray(x).T  # column-major: its transpose is row-major
        else:
            yy, xx = np.ascontiguousarray(y), x
        xx = np.ascontiguousarray(np.broadcast_to(xx, yy.shape), dtype=yy.dtype)
        if try_axpy_(alpha, xx, yy):
            if yy is not y and yy.base is not y:
                np.copyto(y, yy)
            return y
    if tmp is None:
        tmp = np.empty_like(y)
    np.multiply(x, alpha, out=tmp)
    np.add(y, tmp, out=y)
    return y


if sys.platform == "emscripten":  # no shared libraries to load there
    _routines = {}
