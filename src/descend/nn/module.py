"""`Module` and `Parameter`: the containers networks are built from.

A :class:`Module` owns named :class:`Parameter` objects (tensors that require
grad), named buffers (tensors that are part of the state but are not trained,
such as batch-norm running statistics) and named child modules. Assigning one
of these to an attribute registers it, so ``parameters()``, ``state_dict()``
and the printed tree find it without any further bookkeeping, as in PyTorch::

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)          # registered as child "fc"

        def forward(self, x):
            return self.fc(x)

Registered objects are also kept in the instance ``__dict__``, so reading
``self.fc`` inside ``forward`` is an ordinary attribute lookup (no
``__getattr__`` detour on the hot path).
"""

from __future__ import annotations

from collections import OrderedDict, namedtuple
from collections.abc import Iterator, Mapping
from typing import Self

import numpy as np

from ..tensor import Tensor

__all__ = ["Parameter", "Module", "Sequential", "ModuleList"]


class Parameter(Tensor):
    """A tensor that is a trainable parameter of a :class:`Module`.

    ``Parameter(data, requires_grad=True)`` copies ``data`` (an array, a
    tensor, or nested lists); its dtype follows the data (Python numbers become
    float32, NumPy arrays keep their dtype). Only floating-point parameters can
    require grad.
    """

    __slots__ = ()

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            data = np.empty(0, dtype=np.float32)
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo):
        out = Parameter(self.data.copy(), requires_grad=self.requires_grad)
        if self.grad is not None:
            out.grad = self.grad.copy()
        memo[id(self)] = out
        return out

    def __reduce_ex__(self, protocol):
        # Tensors hold closures; a Parameter is a leaf, so its array and flag are all there is.
        return (Parameter, (self.data, self.requires_grad))


_IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _addindent(text: str, spaces: int) -> str:
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    return lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


class Module:
    """Base class of every layer, loss and network.

    Subclasses call ``super().__init__()`` first, assign parameters, buffers and
    sub-modules as attributes, and implement :meth:`forward`. Calling the module
    (``m(x)``) runs ``forward``.

    ``training`` is True after construction and after ``train()``; ``eval()``
    sets it to False in the module and all its descendants (it changes how
    :class:`~descend.nn.Dropout` and :class:`~descend.nn.BatchNorm1d` behave).
    """

    def __init__(self):
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent"] = set()
        d["_modules"] = OrderedDict()

    # -- computation ---------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # -- registration -----------------------------------------------------------------
    def _check_ready(self, what: str) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {what} before Module.__init__() call "
                f"(call super().__init__() first in {type(self).__name__}.__init__)"
            )

    @staticmethod
    def _check_name(name, kind: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"{kind} name must be a str, got {type(name).__name__}")
        if not name or "." in name:
            raise KeyError(f"{kind} name {name!r} must be non-empty and contain no '.'")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (a :class:`Parameter` or None) under ``name``."""
        self._check_ready("parameters")
        self._check_name(name, "parameter")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign {type(param).__name__} as parameter {name!r} (Parameter or None expected)"
            )
        if name in self._modules or name in self._buffers:
            raise KeyError(f"attribute {name!r} already exists as a module or buffer")
        self._parameters[name] = param
        self.__dict__[name] = param

    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        """Register a non-trained tensor (array, Tensor or None) as state.

        Persistent buffers appear in :meth:`state_dict`; the others do not.
        """
        self._check_ready("buffers")
        self._check_name(name, "buffer")
        if tensor is not None:
            if isinstance(tensor, Parameter):
                raise TypeError(f"buffer {name!r}: use register_parameter for a Parameter")
            if not isinstance(tensor, Tensor):
                tensor = Tensor(tensor)
        if name in self._modules or name in self._parameters:
            raise KeyError(f"attribute {name!r} already exists as a module or parameter")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)
        self.__dict__[name] = tensor

    def add_module(self, name: str, module: Module | None) -> None:
        """Register ``module`` as a child named ``name``."""
        self._check_ready("modules")
        self._check_name(name, "module")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass (child {name!r})")
        if name in self._parameters or name in self._buffers:
            raise KeyError(f"attribute {name!r} already exists as a parameter or buffer")
        self._modules[name] = module
        self.__dict__[name] = module

    register_module = add_module

    def __setattr__(self, name: str, value) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            self._check_ready("parameters")
            for reg in (d["_buffers"], d["_modules"]):
                reg.pop(name, None)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as parameter {name!r} "
                    "(Parameter or None expected)"
                )
            self.register_parameter(name, None)
        elif isinstance(value, Module):
            self._check_ready("modules")
            for reg in (d["_parameters"], d["_buffers"]):
                reg.pop(name, None)
            self.add_module(name, value)
        elif params is not None and name in d["_modules"]:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module {name!r} (Module or None expected)")
            self.add_module(name, None)
        elif params is not None and name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                value = Tensor(value)
            d["_buffers"][name] = value
            d[name] = value
        else:
            object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        d = self.__dict__
        for reg in ("_parameters", "_buffers", "_modules"):
            if name in d.get(reg, ()):
                del d[reg][name]
                d["_non_persistent"].discard(name)
                break
        object.__delattr__(self, name)

    # -- traversal ----------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Direct children as ``(name, module)`` pairs (each module once)."""
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def named_modules(self, memo=None, prefix: str = "", remove_duplicate: bool = True):
        """This module and all descendants, depth first, as ``(dotted_name, module)``."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            yield from m.named_modules(memo, prefix + ("." if prefix else "") + name, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def _named_members(self, registry: str, prefix: str, recurse: bool, remove_duplicate: bool = True):
        seen = set()
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mod_prefix, mod in mods:
            for name, value in getattr(mod, registry).items():
                if value is None:
                    continue
                if remove_duplicate:
                    if id(value) in seen:
                        continue
                    seen.add(id(value))
                yield (mod_prefix + "." if mod_prefix else "") + name, value

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        """``(dotted_name, Parameter)`` pairs; a parameter shared by two layers appears once."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """The trainable parameters (pass them to an optimizer)."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn) -> Module:
        """Call ``fn(m)`` on every descendant, then on this module (e.g. custom init)."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # -- modes and gradients --------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode (``mode=True``) or evaluation mode in this module and below."""
        if not isinstance(mode, bool):
            raise ValueError(f"train(): mode must be a bool, got {mode!r}")
        for m in self.modules():
            m.__dict__["training"] = mode
        return self

    def eval(self) -> Module:
        """Evaluation mode: dropout off, batch norm uses its running statistics."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters (to None, or to zeros in place)."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.fill(0)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Freeze (False) or unfreeze (True) every parameter."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def to(self, dtype) -> Module:
        """Cast every floating-point parameter and buffer (and gradient) to ``dtype`` in place.

        The Parameter objects are kept (their ``data`` is replaced), so an
        optimizer created earlier still refers to them.
        """
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"to(): dtype must be a floating-point type, got {dtype}")
        for p in self.parameters():
            if p.data.dtype.kind == "f" and p.data.dtype != dtype:
                p.data = p.data.astype(dtype)
                if p.grad is not None:
                    p.grad = p.grad.astype(dtype)
        for b in self.buffers():
            if b.data.dtype.kind == "f" and b.data.dtype != dtype:
                b.data = b.data.astype(dtype)
        return self

    def double(self) -> Module:
        """Cast to float64 (see :meth:`to`)."""
        return self.to(np.float64)

    def float(self) -> Module:
        """Cast to float32 (see :meth:`to`)."""
        return self.to(np.float32)

    # -- state ------------------------------------------------------------------------------
    def state_dict(self, prefix: str = "", keep_vars: bool = False) -> OrderedDict:
        """Every parameter and persistent buffer by dotted name, e.g. ``"0.weight"``.

        Values are NumPy array *copies* (a snapshot: training on does not change
        it), ready for :func:`descend.save`. ``keep_vars=True`` returns the
        Parameter and buffer objects themselves instead.
        """
        out = OrderedDict()
        for mod_prefix, mod in self.named_modules(prefix=prefix.rstrip(".")):
            head = mod_prefix + "." if mod_prefix else ""
            for name, p in mod._parameters.items():
                if p is not None:
                    out[head + name] = p if keep_vars else p.data.copy()
            for name, b in mod._buffers.items():
                if b is not None and name not in mod._non_persistent:
                    out[head + name] = b if keep_vars else b.data.copy()
        return out

    def load_state_dict(self, state_dict: Mapping, strict: bool = True):
        """Copy values from ``state_dict`` (name -> array or tensor) into this module.

        Values are copied into the existing arrays (cast to their dtype), so
        references held elsewhere (an optimizer) stay valid. With
        ``strict=True`` a missing or unexpected key is an error; a shape
        mismatch is always an error. Everything is checked before anything is
        copied, so a failed load leaves the module unchanged. Returns
        ``(missing_keys, unexpected_keys)``.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict: expected a mapping of names to arrays, got {type(state_dict).__name__}")
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        name = type(self).__name__
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append("missing key(s) " + ", ".join(repr(k) for k in missing))
            if unexpected:
                parts.append("unexpected key(s) " + ", ".join(repr(k) for k in unexpected))
            raise RuntimeError(f"load_state_dict for {name}: " + "; ".join(parts))
        updates = []
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            if isinstance(value, Tensor):
                value = value.data
            try:
                arr = np.asarray(value)
            except Exception as exc:  # noqa: BLE001 - report which key failed
                raise TypeError(f"load_state_dict for {name}: value for {key!r} is not an array: {exc}") from None
            if arr.dtype.kind not in "biuf":
                raise TypeError(
                    f"load_state_dict for {name}: value for {key!r} has dtype {arr.dtype}; numbers expected"
                )
            if arr.shape != target.data.shape:
                raise RuntimeError(
                    f"load_state_dict for {name}: size mismatch for {key!r}: the file has shape "
                    f"{arr.shape}, the module has shape {target.data.shape}"
                )
            updates.append((target, arr))
        for target, arr in updates:
            np.copyto(target.data, arr, casting="unsafe")
        return _IncompatibleKeys(missing, unexpected)

    # -- printing ---------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text inside this module's parentheses in ``repr`` (override in layers)."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + _addindent(repr(m), 2) for name, m in self._modules.items()]
        body = ""
        if len(extra_lines) == 1 and not child_lines:
            body = extra_lines[0]
        elif extra_lines or child_lines:
            body = "\n  " + "\n  ".join(extra_lines + child_lines) + "\n"
        return f"{type(self).__name__}({body})"


class _Container(Module):
    """What Sequential and ModuleList share: a length, iteration over the children, append."""

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module: Module) -> Self:
        self.add_module(str(len(self._modules)), module)
        return self


class Sequential(_Container):
    """Modules applied one after another: ``Sequential(a, b, c)(x) == c(b(a(x)))``.

    Children are named ``"0"``, ``"1"``, ... (or by an ``OrderedDict`` given as
    the only argument), so parameters are called ``"0.weight"`` etc. Indexing
    returns a child (an int) or a new Sequential (a slice).
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def _index(self, idx: int) -> str:
        n = len(self._modules)
        if not isinstance(idx, (int, np.integer)) or isinstance(idx, bool):
            raise TypeError(f"{type(self).__name__} indices must be integers or slices, got {type(idx).__name__}")
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range for {type(self).__name__} of length {n}")
        return list(self._modules)[idx % n]

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return Sequential(OrderedDict(list(self._modules.items())[idx]))
        return self._modules[self._index(idx)]

    def __setitem__(self, idx, module: Module) -> None:
        self.add_module(self._index(idx), module)


class ModuleList(_Container):
    """A list of modules whose parameters are registered (children ``"0"``, ``"1"``, ...)."""

    def __init__(self, modules=None):
        super().__init__()
        for m in modules or ():
            self.append(m)

    def __getitem__(self, idx):
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            return ModuleList(mods[idx])
        return mods[idx]

    def __setitem__(self, idx, module: Module) -> None:
        names = list(self._modules)
        self.add_module(names[idx], module)

    def extend(self, modules) -> ModuleList:
        for m in modules:
            self.append(m)
        return self

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleList has no forward(); iterate over it in your own forward()")
