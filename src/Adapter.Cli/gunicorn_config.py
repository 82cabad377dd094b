"""Reads a gunicorn config file for the gateway command: executes it as gunicorn does (a module named __config__,
never importing the app) and prints, as JSON, the values it assigns and the names of the functions it defines
(server hooks). Usage: python3 gunicorn_config.py FILE"""
import json
import sys
import types


def main(path):
    namespace = {"__builtins__": __builtins__, "__file__": path, "__name__": "__config__"}
    with open(path, "rb") as file:
        source = file.read()
    exec(compile(source, path, "exec"), namespace)
    settings, hooks = {}, []
    for name, value in namespace.items():
        if name.startswith("_") or isinstance(value, (types.ModuleType, type)):
            continue
        if callable(value):
            hooks.append(name)
            continue
        if isinstance(value, (tuple, set, frozenset)):
            value = list(value)
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            value = repr(value)
        settings[name] = value
    json.dump({"settings": settings, "hooks": hooks}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
