"""IPython startup file of the autograder's grading kernel (copied into the kernel's
``$IPYTHONDIR/profile_default/startup/``; runs after the kernel started, before any cell).

1. Writes ``INFO ready`` into the sandbox log: file-access refusals logged after this line
   come from the notebook, not from the kernel's own start-up.
2. Installs a ``pre_run_cell`` guard that, before every cell:

   - puts back every attribute of the modules loaded at kernel start (the standard
     library: ``importlib``, ``builtins``, ``json``, ...) that code written in the notebook
     replaced -- e.g. ``importlib.reload = lambda m: m``, which would otherwise defeat the
     test cells' ``reload(grading)``;
   - puts back those modules in ``sys.modules`` and removes import hooks
     (``sys.meta_path``, ``sys.path_hooks``) defined in the notebook;
   - puts back how IPython shows a cell's result and reports its errors (the shell's, the
     display hook's and the plain-text formatter's attributes, the formatter's printers and
     float format, ``custom_exceptions``) where the notebook changed them: a test cell's
     result is its partial credit (e.g. ``4.0``), which a printer registered for ``float``
     could otherwise show as full marks, and a custom exception handler could hide a failure;
   - after a ``MemoryError`` (the memory cap), drops the traceback IPython keeps, which
     would otherwise keep the memory bomb's data alive for the rest of the notebook.

   Values set by library code are never touched, only objects defined in the notebook.
"""


def _output_restorer(ip, from_notebook):
    """A function that puts back how IPython shows a cell's result and reports its errors, as
    they are now, where code of the notebook (``from_notebook``) changed them; it returns the
    number of values put back."""
    plain = ip.display_formatter.formatters.get("text/plain")
    shown = [ip, ip.displayhook, ip.display_formatter, plain]  # what turns a result into output
    shown_attrs = [dict(vars(obj)) for obj in shown]
    printers = [(table, dict(table)) for table in (plain.type_printers, plain.deferred_printers)]
    formats = {k: getattr(plain, k) for k in ("float_precision", "float_format", "pprint")}
    custom = (ip.custom_exceptions, ip.CustomTB)

    def restore_output():
        """Put back the output machinery the notebook changed; the number of values put back."""
        restored = 0
        for obj, orig in zip(shown, shown_attrs):
            for key, value in list(vars(obj).items()):
                if from_notebook(value):  # a function, method or object of the notebook
                    if key in orig:
                        setattr(obj, key, orig[key])
                    else:
                        delattr(obj, key)
                    restored += 1
        for table, orig in printers:
            for key in [k for k, v in table.items() if from_notebook(v)]:
                table.pop(key)
                if key in orig:
                    table[key] = orig[key]
                restored += 1
        for key, value in formats.items():
            if getattr(plain, key) != value:
                setattr(plain, key, value)
                restored += 1
        if ip.display_formatter.formatters.get("text/plain") is not plain:
            ip.display_formatter.formatters["text/plain"] = plain
            restored += 1
        if (ip.custom_exceptions, ip.CustomTB) != custom:
            ip.custom_exceptions, ip.CustomTB = custom
            restored += 1
        return restored

    return restore_output


def _autograder_startup():
    import os
    import sys

    fd = os.environ.pop("AUTOGRADER_SANDBOX_LOGFD", None)
    if fd:
        try:
            os.write(int(fd), b"INFO ready\n")
        except OSError:
            pass

    try:
        ip = get_ipython()  # noqa: F821 - IPython provides it to startup files
    except NameError:
        return

    main_names = ("__main__", "__mp_main__", "builtins.__main__")
    snapshot = []
    for name, mod in list(sys.modules.items()):
        d = getattr(mod, "__dict__", None)
        if name == "__main__" or not isinstance(d, dict):
            continue
        snapshot.append((name, mod, dict(d)))
    meta_path = list(sys.meta_path)
    path_hooks = list(sys.path_hooks)
    gc_collect = __import__("gc").collect

    def from_notebook(obj):
        mod = getattr(obj, "__module__", None)
        if mod in main_names:
            return True
        code = getattr(obj, "__code__", None)
        fname = getattr(code, "co_filename", "") or ""
        return fname.startswith("<ipython-input") or "/ipykernel_" in fname

    restore_output = _output_restorer(ip, from_notebook)

    def guard(*_args, **_kwargs):
        restored = 0
        for name, mod, orig in snapshot:
            if sys.modules.get(name, mod) is not mod:
                sys.modules[name] = mod
                restored += 1
            d = mod.__dict__
            for key, value in orig.items():
                cur = d.get(key, value)
                if cur is not value and from_notebook(cur):
                    d[key] = value
                    restored += 1
        restored += restore_output()
        for lst, orig in ((sys.meta_path, meta_path), (sys.path_hooks, path_hooks)):
            bad = [x for x in lst if x not in orig and (from_notebook(x) or from_notebook(type(x)))]
            for x in bad:
                lst.remove(x)
                restored += 1
        last = getattr(ip, "last_execution_result", None)
        err = getattr(last, "error_in_exec", None)
        if getattr(sys, "last_type", None) is MemoryError or isinstance(err, MemoryError):
            # IPython keeps the last exception (for %debug): its traceback keeps the frames,
            # and so the memory bomb's data, alive
            sys.last_type = sys.last_value = sys.last_traceback = None
            if hasattr(sys, "last_exc"):
                sys.last_exc = None
            if err is not None:
                err.__traceback__ = None
                err.__context__ = err.__cause__ = None
            for tb_holder in (getattr(ip, "InteractiveTB", None), getattr(ip, "SyntaxTB", None)):
                if tb_holder is not None and hasattr(tb_holder, "tb"):
                    tb_holder.tb = None
            gc_collect()

    ip.events.register("pre_run_cell", guard)


_autograder_startup()
del _autograder_startup, _output_restorer
