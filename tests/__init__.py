"""The test suite; its folders mirror egvsr/ (tests/events/io/ tests egvsr/events/io/, and so on).

Every folder is a package so that files in different folders may share a name (test_errors.py);
shared helpers are imported as `tests._reliability`, `tests._model_helpers`, `tests.conftest`.
Tests that go through whole `egvsr` commands live in tests/cli/, the recipes in tests/recipes/.
"""
