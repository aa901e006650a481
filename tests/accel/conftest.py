"""One torch / FAISS thread in these tests (a shared 2-core machine)."""

from one_thread import single_thread  # noqa: F401
