#!/usr/bin/env python3
"""The architecture's rules, checked against Package.swift and every `import` in Sources/.

docs/architecture.md states these rules in prose; this script is what keeps them true.
It reads the package graph with `swift package dump-package` (no build needed) and fails,
naming the file and line, when:

  1. a target declares a dependency its layer may not have (the table ALLOWED below);
  2. a source file imports a module its target does not declare (no leaning on
     transitive dependencies: what a target uses is written in Package.swift);
  3. a library target imports HTTP, argument parsing or service lifecycle
     (only the executable knows them);
  4. the engine (Sources/Neural) holds mutable global state: a `static var`, a global
     `var`, `nonisolated(unsafe)` or `@unchecked Sendable` singletons with settings;
  5. a library or executable target outside Tests/ and Benchmarks/ exists that the table
     does not know (a new target updates the table and
     docs/architecture.md in the same commit).

Run: scripts/check-architecture.py  (from `make test` and `make check-architecture`).
"""
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# What each target may depend on: project targets and external products. The order of the
# table is the layering, lowest first; a target may only name targets above it.
ML = {"Neural", "Training", "Inspection", "Lifecycle"}
SHIMS = {"CKernels", "CBLAS", "CZlib", "CTurboJPEG", "CV4L2", "CMosquitto", "CModbus", "CGPIOD"}
ALLOWED = {
    # C shims: no dependencies of their own.
    "CKernels": set(), "CBLAS": set(), "CZlib": set(), "CTurboJPEG": set(), "CV4L2": set(), "CMosquitto": set(), "CModbus": set(), "CGPIOD": set(),
    # Domain vocabulary shared by every layer: verdicts, flag reasons, clocks, hashing.
    "LinesightCore": {"Crypto"},
    # The engine: tensors, layers, kernels. Only BLAS below it.
    "Neural": {"CBLAS", "CKernels"},
    # Pixels and frames, no ML.
    "Imaging": {"CTurboJPEG"},
    "Capture": {"Imaging", "CV4L2", "LinesightCore", "Logging"},
    # Persistence, no ML.
    "Store": {"LinesightCore", "GRDB", "Logging"},
    "Config": set(),
    "Reports": {"Store", "Config", "CZlib"},
    # The line's inputs and outputs (MQTT, Modbus TCP, GPIO), no ML.
    "LineIO": {"CMosquitto", "CModbus", "CGPIOD", "Config", "LinesightCore", "Logging"},
    # Learning: the engine plus data.
    "Training": {"Neural", "Imaging", "CZlib"},
    # The line: composes the engine, imaging, capture and the store.
    "Inspection": {"Neural", "Imaging", "Capture", "Store", "Config", "LinesightCore", "Logging"},
    # The model lifecycle: first training, retrain and promote, labels, audit.
    "Lifecycle": {"Training", "Inspection", "Neural", "Store", "Imaging", "LinesightCore", "Logging"},
    # The one executable: everything, plus HTTP, argument parsing and service lifecycle.
    "linesight": None,
}
# Only the executable (and benchmarks/tests) may import these.
EXECUTABLE_ONLY = {"ArgumentParser", "Hummingbird", "HummingbirdCore", "NIOCore", "NIOPosix",
                   "NIOHTTP1", "Prometheus", "Metrics", "ServiceLifecycle", "UnixSignals"}
# Benchmarks and tests: any project target, but they are checked for rule 2.
SYSTEM_MODULES = {"Foundation", "FoundationEssentials", "Dispatch", "Glibc", "Darwin", "Testing",
                  "XCTest", "Synchronization", "_Concurrency", "os", "Musl", "Android",
                  "FoundationNetworking", "FoundationXML"}


def dump_package():
    out = subprocess.run(["swift", "package", "dump-package"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def dependency_names(target):
    names = []
    for dep in target["dependencies"]:
        kind, value = next(iter(dep.items()))
        names.append(value[0])
    return names


def source_dir(target):
    if target.get("path"):
        return os.path.join(ROOT, target["path"])
    base = "Tests" if target["type"] == "test" else "Sources"
    return os.path.join(ROOT, base, target["name"])


IMPORT = re.compile(r"^\s*(?:@[\w()]+\s+)*import\s+(?:(?:struct|class|enum|func|protocol|typealias|var|let)\s+)?([A-Za-z_][\w]*)")


def imports(directory):
    for dirpath, _, files in os.walk(directory):
        for name in sorted(files):
            if not name.endswith(".swift"):
                continue
            path = os.path.join(dirpath, name)
            with open(path, encoding="utf-8") as f:
                for number, line in enumerate(f, 1):
                    m = IMPORT.match(line)
                    if m:
                        yield os.path.relpath(path, ROOT), number, m.group(1)


MUTABLE_GLOBAL = [
    (re.compile(r"\b(?:static|class)\s+var\b"), "a static var"),
    (re.compile(r"^(?:public\s+|internal\s+|private\s+|fileprivate\s+)*var\b"), "a global var"),
    (re.compile(r"nonisolated\(unsafe\)"), "nonisolated(unsafe) state"),
]


def swift_files(root):
    for dirpath, _, files in os.walk(root):
        for name in sorted(files):
            if name.endswith(".swift"):
                yield os.path.join(dirpath, name)


def engine_globals():
    root = os.path.join(ROOT, "Sources", "Neural")
    classes = set()
    for path in swift_files(root):
        with open(path, encoding="utf-8") as f:
            classes |= set(re.findall(r"\bclass\s+([A-Z]\w*)", f.read()))
    # A static or global constant holding an instance of one of the engine's classes is a
    # mutable singleton (a worker pool, a cache) all callers share.
    singleton = re.compile(r"(?:\bstatic\s+let|^let)\s+\w+(?:\s*:\s*\w+)?\s*=\s*(%s)\b" % "|".join(sorted(classes) or ["$^"]))
    for path in swift_files(root):
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                code = line.split("//", 1)[0]
                found = None
                for pattern, what in MUTABLE_GLOBAL:
                    if pattern.search(code):
                        # A computed static var (`static var x: T { ... }`) holds no state.
                        if what == "a static var" and "{" in code and "=" not in code.split("{")[0]:
                            continue
                        found = what
                        break
                if found is None and singleton.search(code):
                    found = "a shared instance of " + singleton.search(code).group(1)
                if found:
                    yield os.path.relpath(path, ROOT), number, found


def main():
    package = dump_package()
    targets = {t["name"]: t for t in package["targets"]}
    project = set(targets)
    errors = []
    for name, target in targets.items():
        deps = dependency_names(target)
        library = target["type"] in ("regular", "system") and not target.get("path", "").startswith(("Tests", "Benchmarks"))
        shipped = target["type"] == "executable" and not target.get("path", "").startswith(("Tests", "Benchmarks"))
        if library or shipped:
            if name not in ALLOWED:
                errors.append(f"Package.swift: target {name} is not in the architecture table "
                              f"(scripts/check-architecture.py ALLOWED and docs/architecture.md)")
                continue
            allowed = ALLOWED[name]
            if allowed is not None:
                for dep in deps:
                    if dep not in allowed:
                        errors.append(f"Package.swift: {name} may not depend on {dep} "
                                      f"(allowed: {', '.join(sorted(allowed)) or 'nothing'})")
        if target["type"] == "system":
            continue
        declared = set(deps) | SYSTEM_MODULES
        for path, line, module in imports(source_dir(target)):
            if module in SYSTEM_MODULES:
                continue
            if module not in declared and (module in project or module[0].isupper()):
                errors.append(f"{path}:{line}: {name} imports {module} without declaring it in Package.swift")
            if library and module in EXECUTABLE_ONLY:
                errors.append(f"{path}:{line}: {name} imports {module}; only the executable knows HTTP, "
                              f"argument parsing and metrics exposition")
            if library and name not in ML and module in ML:
                errors.append(f"{path}:{line}: {name} knows no ML, yet imports {module}")
    with open(os.path.join(ROOT, "docs", "architecture.md"), encoding="utf-8") as f:
        doc = f.read()
    for name in ALLOWED:
        if name in targets and f"`{name}`" not in doc:
            errors.append(f"docs/architecture.md: target {name} is not described (name it in backticks)")
    for path, line, what in engine_globals():
        errors.append(f"{path}:{line}: the engine holds {what}; pass settings in (Compute) instead")
    if errors:
        print("check-architecture: %d rule(s) broken" % len(errors), file=sys.stderr)
        for e in errors:
            print("  " + e, file=sys.stderr)
        return 1
    checked = sum(1 for t in targets.values() if t["type"] != "system")
    print(f"check-architecture: {checked} targets, their imports and the engine's globals follow docs/architecture.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
